"""Serving: examples/s and latency of the exported SavedModel against ``nwsrec predict``.

The demo flow on the synthetic data (``generate_synthetic``, default config; smaller with
``--quick``): a full-width model and a searched + retrained one are trained for a few
steps (``scale_steps``; quality does not matter here, only the model's shape), both are
exported with ``export_saved_model`` (``nwsrec export``), and on the same serialized
``tf.Example`` records of the test split the bench measures

- the export's ``serving_default`` signature (``tf.saved_model.load``, a batch of
  serialized strings in memory -> probabilities), at batches of 1, 64 and 1,024, both in
  this process and in a fresh subprocess that imports TensorFlow only (never nwsrec), the
  way a server loads it;
- ``nwsrec predict``'s path (``nwsrec.serving.predict``) at its batch of 1,024 on a
  TFRecord file of those records (10,240 by default): "steady" is its pipeline
  (``TFRecordDataset`` -> ``batch`` -> ``parse_example`` map -> ``prefetch``, scored by the
  model's ``ScoreFunction``) with the function traced beforehand; "as run" is
  ``predict_files`` itself on the loaded model, start-up included (listing and probing
  the files, building the pipeline, the cached trace); once per model, "first call" is
  ``predict_files`` on a fresh ``load_model`` (its one trace included), and a whole
  ``nwsrec predict`` command in a fresh process is timed (interpreter, imports, load,
  trace, scoring);
- latency at batch 1: p50 / p99 of single-record calls (the call and reading its output),
  10,000 calls per model and process by default (100 samples above the p99);
- the first batch-1 request after loading: cold in this process, and in the fresh process
  after replaying the export's ``assets.extra/tf_serving_warmup_requests`` as TF Serving
  does on load (decoded with TensorFlow alone).

Every figure is the median of ``--rounds`` rounds, after a warm-up; in each round every
case of both models (and the subprocess's, over a line protocol) runs once, in a rotated
order, so a change of load on the shared machine hits every side alike. Latency samples
are pooled over the rounds. Scores of the export are checked against predict's.

Goals (issues 13, 23): ``predict_files`` as run within 1.5x of the steady path; the export
>= 0.9x predict's examples/s at batch 1,024 (against the steady predict path); p99 <= 5 ms
at batch 1 from the SavedModel in a fresh process. Also printed: the export's size on
disk (``ExportResult.bytes_on_disk``) of the searched model against full width's.

Run: ``nice -n 10 .venv/bin/python bench/serving.py`` (about 5 minutes on 2 cores);
``--quick`` for a smoke run (about 1.5 minutes).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

BATCHES = (1, 64, 1024)
PREDICT_BATCH = 1024
THROUGHPUT_GOAL = 0.9
P99_GOAL_MS = 5.0
PREDICT_GOAL = 1.5
MODELS = ("searched", "full width")
SIGNATURE = "serving_default"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small data, short runs")
    parser.add_argument("--steps", type=int, help="training steps (default 100; quick 30)")
    parser.add_argument("--rounds", type=int, help="measurement rounds (default 7; quick 3)")
    parser.add_argument("--records", type=int, default=10240, help="records scored")
    parser.add_argument(
        "--latency-calls", type=int, default=10000, help="batch-1 calls per model and process"
    )
    parser.add_argument("--keep", metavar="DIR", help="work in DIR (kept) instead of a temp dir")
    parser.add_argument("--child", nargs=2, metavar=("EXPORTS", "RECORDS"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.steps = args.steps or (30 if args.quick else 100)
    args.rounds = args.rounds or (3 if args.quick else 7)
    return args


# --- the export side: TensorFlow only (also what the fresh subprocess runs) -------------


def read_records(path: str, limit: int | None = None) -> list[bytes]:
    """The serialized records of a TFRecord file (uncompressed), in file order."""
    dataset = tf.data.TFRecordDataset(path)
    if limit is not None:
        dataset = dataset.take(limit)
    return [r.numpy() for r in dataset]


def replay_warmup(saved: Any, path: str) -> float | None:
    """Seconds to run the export's warm-up requests (PredictionLog records: predict_log
    = field 6, request = 1, inputs = map field 2 of name 1 -> TensorProto 2, signature
    = model_spec 1 / field 3), decoded here with TensorFlow alone; None without a file."""
    from tensorflow.core.framework import tensor_pb2

    file = os.path.join(path, "assets.extra", "tf_serving_warmup_requests")
    if not os.path.exists(file):
        return None

    def fields(data: bytes):
        at = 0
        while at < len(data):
            key, at = _varint(data, at)
            size, at = _varint(data, at)
            yield key >> 3, data[at : at + size]
            at += size

    start = time.perf_counter()
    for record in tf.data.TFRecordDataset(file):
        log = dict(fields(record.numpy()))[6]
        request = list(fields(dict(fields(log))[1]))
        spec = dict(fields(dict(request)[1]))
        inputs = {}
        for number, entry in request:
            if number == 2:
                entry = dict(fields(entry))
                proto = tensor_pb2.TensorProto.FromString(entry[2])
                inputs[entry[1].decode()] = tf.constant(tf.make_ndarray(proto))
        outputs = saved.signatures[spec[3].decode()](**inputs)
        [v.numpy() for v in outputs.values()]
    return time.perf_counter() - start


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, at


class ExportSide:
    """One exported SavedModel, loaded with plain ``tf.saved_model.load``."""

    def __init__(self, path: str, records: list[bytes], warm_up: bool = False) -> None:
        start = time.perf_counter()
        saved = tf.saved_model.load(path)
        self.fn = saved.signatures[SIGNATURE]
        self.load_seconds = time.perf_counter() - start
        # As TF Serving does on load: run assets.extra/tf_serving_warmup_requests (the
        # same reading as nwsrec.serving.warmup, without importing nwsrec).
        self.warmup_seconds = replay_warmup(saved, path) if warm_up else None
        start = time.perf_counter()
        self.fn(examples=tf.constant(records[:1]))["probabilities"].numpy()
        self.first_request_seconds = time.perf_counter() - start
        start = time.perf_counter()
        self.scores = self.fn(examples=tf.constant(records))["probabilities"].numpy()
        self.first_call_seconds = time.perf_counter() - start
        self.batches = {}
        for size in BATCHES:
            # Batch 1: 256 calls a measurement; larger: every record (whole batches).
            count = 256 if size == 1 else len(records) // size * size
            self.batches[size] = [tf.constant(records[i : i + size]) for i in range(0, count, size)]
        self.single = [tf.constant(records[i : i + 1]) for i in range(len(records))]
        for size in BATCHES:  # warm up every shape
            for batch in self.batches[size][:3]:
                self.fn(examples=batch)["probabilities"].numpy()
        self.latency_at = 0

    def throughput(self, size: int) -> float:
        """Examples/s of ``serving_default`` over this batch size's batches."""
        batches = self.batches[size]
        start = time.perf_counter()
        for batch in batches:
            self.fn(examples=batch)["probabilities"].numpy()
        return sum(int(b.shape[0]) for b in batches) / (time.perf_counter() - start)

    def latencies(self, calls: int) -> list[float]:
        """Seconds of ``calls`` single-record calls (the next records, cycling)."""
        out = []
        for _ in range(calls):
            batch = self.single[self.latency_at % len(self.single)]
            self.latency_at += 1
            start = time.perf_counter()
            self.fn(examples=batch)["probabilities"].numpy()
            out.append(time.perf_counter() - start)
        return out


def export_round(sides: dict[str, ExportSide], shift: int, latency_calls: int) -> dict:
    """One round of every export case, in an order rotated by ``shift``."""
    cases = [(m, s) for m in sides for s in BATCHES] + [(m, "latency") for m in sides]
    shift %= len(cases)
    out: dict[str, Any] = {m: {} for m in sides}
    for model, case in cases[shift:] + cases[:shift]:
        if case == "latency":
            out[model]["latency"] = sides[model].latencies(latency_calls)
        else:
            out[model][str(case)] = sides[model].throughput(case)
    return out


def run_child(exports: str, records_path: str) -> int:
    """The fresh server-like process: loads each export with TensorFlow alone, then
    answers ``round SHIFT CALLS`` lines with one ``RESULT`` line of JSON each."""
    records = read_records(records_path)
    paths = json.loads(exports)
    sides = {m: ExportSide(p, records, warm_up=True) for m, p in paths.items()}
    info = {
        m: {
            "load_seconds": s.load_seconds,
            "warmup_seconds": s.warmup_seconds,
            "first_request_seconds": s.first_request_seconds,
            "first_call_seconds": s.first_call_seconds,
            "scores": s.scores.tolist(),
        }
        for m, s in sides.items()
    }
    info["nwsrec_imported"] = any(name.split(".")[0] == "nwsrec" for name in sys.modules)
    print("READY " + json.dumps(info), flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] == "quit":
            break
        result = export_round(sides, int(words[1]), int(words[2]))
        print("RESULT " + json.dumps(result), flush=True)
    return 0


class Child:
    """The subprocess, driven one round at a time (so it never runs alongside us)."""

    def __init__(self, paths: dict[str, str], records_path: str) -> None:
        command = [sys.executable, os.path.abspath(__file__), "--child"]
        command += [json.dumps(paths), records_path]
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.info = self._read("READY ")

    def _read(self, prefix: str) -> dict:
        for line in self.process.stdout:
            if line.startswith(prefix):
                return json.loads(line[len(prefix) :])
            print("  child: " + line, end="", flush=True)
        raise RuntimeError(f"the serving subprocess ended (exit status {self.process.wait()})")

    def round(self, shift: int, latency_calls: int) -> dict:
        self.process.stdin.write(f"round {shift} {latency_calls}\n")
        self.process.stdin.flush()
        return self._read("RESULT ")

    def close(self) -> None:
        self.process.stdin.write("quit\n")
        self.process.stdin.close()
        self.process.wait(timeout=60)


# --- the nwsrec side --------------------------------------------------------------------


def train_and_export(work: str, args: argparse.Namespace) -> dict[str, dict]:
    """Data, the searched + retrained and the full-width runs, and their exports."""
    from nwsrec.data.synthetic import SyntheticConfig, generate_synthetic
    from nwsrec.runs import resolve_params, run_search, run_train, scale_steps
    from nwsrec.serving import export_saved_model

    data = os.path.join(work, "data")
    config = SyntheticConfig(num_train=20_000, num_test=5_000) if args.quick else SyntheticConfig()
    if config.num_test < args.records:  # every scored record a distinct test record
        config = dataclasses.replace(config, num_test=args.records)
    start = time.perf_counter()
    generate_synthetic(data, config)
    print(
        f"data: {config.num_train:,} + {config.num_test:,} records in "
        f"{time.perf_counter() - start:.0f} s",
        flush=True,
    )
    cls, params = resolve_params("synthetic", {"seed": 0, "nws_seed": 0}, data_dir=data)
    params = scale_steps(params, args.steps)
    start = time.perf_counter()
    found = run_search(cls, params, os.path.join(work, "search"), progress=False)
    print(
        f"search ({params.get('search_steps')} steps) in {time.perf_counter() - start:.0f} s; "
        f"widths {dict(sorted(found.slot_dims.items()))}",
        flush=True,
    )
    start = time.perf_counter()
    runs = {
        "searched": run_train(
            cls,
            params,
            os.path.join(work, "retrain"),
            dims_path=found.search_result_path,
            progress=False,
        ),
        "full width": run_train(cls, params, os.path.join(work, "full"), progress=False),
    }
    print(f"2 trainings ({args.steps} steps) in {time.perf_counter() - start:.0f} s", flush=True)
    out = {}
    for name, report in runs.items():
        result = export_saved_model(
            report.model_dir, os.path.join(work, "export", name.replace(" ", "_")), version=1
        )
        out[name] = {"report": report, "export": result}
    return out


def write_records(work: str, limit: int) -> str:
    """The first ``limit`` test records as one TFRecord file (both sides read these)."""
    from nwsrec.data.files import list_files

    path = os.path.join(work, "records.tfrecord")
    dataset = tf.data.TFRecordDataset(list_files(os.path.join(work, "data", "test-*")))
    with tf.io.TFRecordWriter(path) as writer:
        for record in dataset.take(limit):
            writer.write(record.numpy())
    return path


class PredictSide:
    """``nwsrec predict``'s path on the records file, at its batch of 1,024."""

    def __init__(self, model_dir: str, records_path: str) -> None:
        from nwsrec.serving import load_model
        from nwsrec.serving.predict import score_function

        self.loaded = load_model(model_dir)
        self.path = records_path
        spec = self.loaded.feature_map()
        spec["label"] = tf.io.FixedLenFeature([], tf.float32, default_value=np.nan)
        # As predict_files builds its pipeline (one uncompressed file here).
        self.dataset = (
            tf.data.TFRecordDataset(records_path)
            .batch(PREDICT_BATCH)
            .map(lambda s: tf.io.parse_example(s, spec), num_parallel_calls=tf.data.AUTOTUNE)
            .prefetch(tf.data.AUTOTUNE)
        )
        self.score = score_function(self.loaded)
        self.scores = self._run()[1]  # traces the function
        self._run()

    def _run(self) -> tuple[float, np.ndarray]:
        scores, labels = [], []
        start = time.perf_counter()
        for batch in self.dataset:
            scores.append(self.score(batch).numpy())
            labels.append(batch["label"].numpy())
        seconds = time.perf_counter() - start
        return seconds, np.concatenate(scores)

    def steady(self) -> float:
        seconds, scores = self._run()
        return scores.size / seconds

    def as_run(self) -> float:
        from nwsrec.serving import predict_files

        return predict_files(self.loaded, self.path, batch_size=PREDICT_BATCH).examples_per_sec

    def first_call(self) -> dict[str, float]:
        """A fresh ``load_model`` and its first ``predict_files`` (which traces), with
        Grappler off as ``nwsrec predict`` runs it."""
        from nwsrec.serving import load_model, predict_files
        from nwsrec.serving.predict import graph_rewrites_off

        with graph_rewrites_off():  # as the command does
            start = time.perf_counter()
            loaded = load_model(self.loaded.model_dir)
            load = time.perf_counter() - start
            done = predict_files(loaded, self.path, batch_size=PREDICT_BATCH)
        return {"load_seconds": load, "rate": done.examples_per_sec, "seconds": done.seconds}

    def command(self, work: str) -> dict[str, float]:
        """Wall seconds of a whole ``nwsrec predict`` in a fresh process (interpreter,
        imports, load, trace, scoring, the TSV)."""
        out = os.path.join(work, "command_scores.tsv")
        argv = [sys.executable, "-m", "nwsrec", "predict", "--model-dir", self.loaded.model_dir]
        argv += ["--files", self.path, "--out", out, "--batch-size", str(PREDICT_BATCH)]
        start = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True, timeout=600)
        seconds = time.perf_counter() - start
        if done.returncode:
            raise RuntimeError(f"nwsrec predict failed: {done.stderr[-2000:]}")
        return {"seconds": seconds, "printed": done.stdout.strip().splitlines()[-1]}


def predict_round(sides: dict[str, PredictSide], shift: int) -> dict:
    cases = [(m, c) for m in sides for c in ("steady", "as run")]
    shift %= len(cases)
    out: dict[str, dict] = {m: {} for m in sides}
    for model, case in cases[shift:] + cases[:shift]:
        side = sides[model]
        out[model][case] = side.steady() if case == "steady" else side.as_run()
    return out


# --- the table --------------------------------------------------------------------------


def _median(rounds: list[dict], model: str, case: str) -> float:
    return statistics.median(r[model][case] for r in rounds)


def _percentiles(rounds: list[dict], model: str) -> tuple[float, float]:
    samples = np.concatenate([r[model]["latency"] for r in rounds]) * 1e3
    return float(np.percentile(samples, 50)), float(np.percentile(samples, 99))


def print_table(runs, here_rounds, child_rounds, predict_rounds, child_info, args) -> None:
    print()
    print(
        f"serving_default on serialized tf.Example batches vs nwsrec predict (batch "
        f"{PREDICT_BATCH}), {args.records:,} test records; median of {args.rounds} "
        f"interleaved rounds; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    header = f"{'model':<12}{'side':<34}{'batch':>6}{'examples/s':>13}{'/ predict':>12}"
    print(header)
    print("-" * len(header))
    sides = (("export, this process", here_rounds), ("export, fresh process", child_rounds))
    ok_rate = ok_predict = True
    for model in MODELS:
        steady = _median(predict_rounds, model, "steady")
        as_run = _median(predict_rounds, model, "as run")
        name = model
        for label, rounds in sides:
            for size in BATCHES:
                rate = _median(rounds, model, str(size))
                ratio = rate / steady
                mark = ""
                if size == PREDICT_BATCH:
                    met = ratio >= THROUGHPUT_GOAL
                    ok_rate &= met
                    mark = "  goal >= 0.9x " + ("met" if met else "NOT met")
                print(f"{name:<12}{label:<34}{size:>6}{rate:>13,.0f}{ratio:>11.2f}x{mark}")
                name = ""
        label = "nwsrec predict path (steady)"
        print(f"{'':<12}{label:<34}{PREDICT_BATCH:>6}{steady:>13,.0f}{1:>11.2f}x")
        met = as_run / steady >= 1 / PREDICT_GOAL
        ok_predict &= met
        print(
            f"{'':<12}{'predict_files as run':<34}{PREDICT_BATCH:>6}{as_run:>13,.0f}"
            f"{as_run / steady:>11.2f}x  goal within {PREDICT_GOAL}x: "
            + ("met" if met else "NOT met")
        )
        first = runs[model]["first_call"]
        print(
            f"{'':<12}{'  first call of a fresh load (trace)':<34}{PREDICT_BATCH:>6}"
            f"{first['rate']:>13,.0f}{first['rate'] / steady:>11.2f}x"
        )
    print()
    calls = args.latency_calls
    header = f"{'model':<12}{'latency at batch 1':<34}{'calls':>6}{'p50 ms':>9}{'p99 ms':>9}"
    print(header)
    print("-" * len(header))
    ok_p99 = True
    for model in MODELS:
        name = model
        for label, rounds in sides:
            p50, p99 = _percentiles(rounds, model)
            met = p99 <= P99_GOAL_MS
            ok_p99 &= met
            print(
                f"{name:<12}{label:<34}{calls:>6}{p50:>9.2f}{p99:>9.2f}  goal p99 <= "
                f"{P99_GOAL_MS:g} ms " + ("met" if met else "NOT met")
            )
            name = ""
    print()
    header = f"{'model':<12}{'export on disk':>16}{'MiB':>8}{'emb. params':>13}{'tables':>8}"
    print(header)
    print("-" * len(header))
    for model in MODELS:
        export = runs[model]["export"]
        tables = sum(len(d) for d in export.slot_dims.values())
        print(
            f"{model:<12}{export.bytes_on_disk:>16,}{export.bytes_on_disk / 2**20:>8.2f}"
            f"{runs[model]['report'].embedding_parameters:>13,}{tables:>8}"
        )
    full = runs["full width"]["export"].bytes_on_disk
    searched = runs["searched"]["export"].bytes_on_disk
    print(f"searched / full width: {searched / full:.3f} ({full / searched:.2f}x smaller)")
    print()
    for model in MODELS:
        info = child_info[model]
        diff_here = np.abs(runs[model]["here_scores"] - runs[model]["predict_scores"]).max()
        diff_child = np.abs(np.asarray(info["scores"]) - runs[model]["predict_scores"]).max()
        print(
            f"{model}: fresh process load {info['load_seconds']:.2f} s, first call "
            f"{info['first_call_seconds']:.2f} s; max |export - predict| score "
            f"{max(diff_here, diff_child):.2e}"
        )
    print()
    for model in MODELS:
        first, command = runs[model]["first_call"], runs[model]["command"]
        steady = _median(predict_rounds, model, "steady")
        print(
            f"{model}: {args.records:,} records: steady scoring {args.records / steady:.2f} s; "
            f"a fresh load_model {first['load_seconds']:.2f} s + first predict_files "
            f"{first['seconds']:.2f} s (trace included); whole `nwsrec predict` command "
            f"{command['seconds']:.2f} s (it printed: {command['printed']})"
        )
    for model in MODELS:
        info = child_info[model]
        print(
            f"{model}: first batch-1 request {1e3 * runs[model]['cold_first_request']:.1f} ms "
            f"cold (this process, no warm-up) vs {1e3 * info['first_request_seconds']:.2f} ms "
            f"in the fresh process after replaying tf_serving_warmup_requests "
            f"({info['warmup_seconds']:.2f} s, as TF Serving does on load)"
        )
    traces = {m: runs[m]["predict_traces"] for m in MODELS}
    print(
        f"fresh process imported nwsrec: {child_info['nwsrec_imported']}; traces of the "
        f"steady predict path's score function: {traces}; '/ predict' = examples/s over "
        f"the steady predict path's at batch {PREDICT_BATCH}"
    )
    print(
        f"goals: predict_files as run within {PREDICT_GOAL}x of the steady path: "
        + ("met" if ok_predict else "NOT met")
        + f"; export >= {THROUGHPUT_GOAL}x predict's examples/s at batch {PREDICT_BATCH}: "
        + ("met" if ok_rate else "NOT met")
        + f"; p99 <= {P99_GOAL_MS:g} ms at batch 1: "
        + ("met" if ok_p99 else "NOT met")
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        return run_child(*args.child)
    tf.random.set_seed(0)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = args.keep or tmp
        os.makedirs(work, exist_ok=True)
        runs = train_and_export(work, args)
        records_path = write_records(work, args.records)
        records = read_records(records_path)
        paths = {m: runs[m]["export"].path for m in MODELS}
        here = {m: ExportSide(paths[m], records) for m in MODELS}
        predict = {m: PredictSide(runs[m]["report"].model_dir, records_path) for m in MODELS}
        for m in MODELS:
            runs[m]["cold_first_request"] = here[m].first_request_seconds
            runs[m]["here_scores"] = here[m].scores
            runs[m]["predict_scores"] = predict[m].scores
        child = Child(paths, records_path)
        calls = max(1, args.latency_calls // args.rounds)
        args.latency_calls = calls * args.rounds
        here_rounds, child_rounds, predict_rounds = [], [], []
        try:
            for k in range(args.rounds):
                # Rotate which side goes first, too.
                sides = ["here", "child", "predict"]
                for side in sides[k % 3 :] + sides[: k % 3]:
                    if side == "here":
                        here_rounds.append(export_round(here, k, calls))
                    elif side == "child":
                        child_rounds.append(child.round(k, calls))
                    else:
                        predict_rounds.append(predict_round(predict, k))
                print(f"round {k + 1}/{args.rounds} done", flush=True)
        finally:
            child.close()
        for m in MODELS:
            runs[m]["predict_traces"] = predict[m].score.tracing_count
            runs[m]["first_call"] = predict[m].first_call()
            runs[m]["command"] = predict[m].command(work)
        print_table(runs, here_rounds, child_rounds, predict_rounds, child.info, args)
    print(f"\n(total {time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
