"""One task of a CLI test cluster: ``python cli_task.py RECORD.json nwsrec-args...``.

Runs ``nwsrec.cli.main.main(args)``, the ``nwsrec`` command itself, under the task's
``TF_CONFIG``; it only watches: every ``Trainer.train`` call's start and end step, the
files each ``Trainer.evaluate`` read, the report of ``run_search`` / ``run_train`` (the
chosen widths, the evaluated examples) and the search result (``write_search_result``'s
dict) are written to ``RECORD.json`` when the command returns, also for a worker that is
not the chief (which prints nothing and whose model dir is deleted). The patches are installed
inside ``run_task``'s train function, after the strategy exists, so nothing touches
TensorFlow earlier than the command does.
"""

from __future__ import annotations

import json
import sys


def main(record_path: str, argv: list[str]) -> int:
    import nwsrec.training.distributed as distributed

    record: dict = {"train": [], "reports": []}
    original_run_task = distributed.run_task

    def run_task(strategy_name, model_dir, train_fn):
        def watched_train_fn(task_model_dir, strategy, restore_dir):
            import nwsrec.runs as runs
            from nwsrec.training.trainer import Trainer

            original_train = Trainer.train

            def train(self, *args, **kwargs):
                result = original_train(self, *args, **kwargs)
                record["train"].append({"start_step": result.start_step, "step": result.step})
                return result

            Trainer.train = train
            original_input_fn, original_evaluate = Trainer.input_fn, Trainer.evaluate
            made: list = []

            def input_fn(self, *args, **kwargs):
                made.append(original_input_fn(self, *args, **kwargs))
                return made[-1]

            def evaluate(self, *args, **kwargs):
                made.clear()
                result = original_evaluate(self, *args, **kwargs)
                files = {p for fn in made for p in getattr(fn, "files_read", [])}
                record.setdefault("evaluated_files", []).append(sorted(files))
                return result

            Trainer.input_fn, Trainer.evaluate = input_fn, evaluate
            original_write = runs.write_search_result

            def write_search_result(path, found):
                record["search_result"] = found
                return original_write(path, found)

            runs.write_search_result = write_search_result
            record["restore_dir"] = restore_dir
            record["task_model_dir"] = task_model_dir
            report = train_fn(task_model_dir, strategy, restore_dir)
            record["reports"].append(
                {
                    "step": report.step,
                    "slot_dims": {str(k): v for k, v in report.slot_dims.items()},
                    "num_examples": report.num_examples,
                    "log_loss": report.log_loss,
                    "auc": report.auc,
                    "embedding_parameters": report.embedding_parameters,
                }
            )
            return report

        done = original_run_task(strategy_name, model_dir, watched_train_fn)
        record["is_chief"] = None if done is None else bool(done[1])
        return done

    distributed.run_task = run_task
    from nwsrec.cli.main import main as nwsrec_main

    code = nwsrec_main(argv)
    record["exit_code"] = code
    with open(record_path, "w", encoding="utf-8") as f:
        json.dump(record, f)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2:]))
