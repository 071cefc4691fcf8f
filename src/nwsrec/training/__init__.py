"""nwsrec.training: the training loop, checkpoints, evaluation and run reports.

- :class:`Trainer`: nwsrec's own ``tf.function`` step over a ``tf.distribute`` strategy;
  dense weights with one Keras optimizer, NWS architecture weights with their own,
  embedding tables with theirs (sparse updates).
- :class:`TrainingCheckpoint`: ``tf.train.CheckpointManager`` over the whole run state.
- :func:`exact_auc`, :func:`log_loss`: evaluation metrics.
- :class:`RunSummaries`, :class:`ProgressBar`, :func:`write_params_json`: reports.
- :func:`search_result`, :func:`write_search_result`, :func:`plot_search`: the result of
  a width search (``search_result.json``, ``search.png``).
- :func:`create_distributed_run`, :func:`parse_tf_config`, :class:`DistributedRun`: the
  strategy of a run from ``--strategy`` and ``TF_CONFIG`` (MultiWorkerMirroredStrategy,
  ParameterServerStrategy with a ClusterCoordinator); see ``docs/scaling.md``.
"""

from nwsrec.training.checkpoints import TrainingCheckpoint
from nwsrec.training.distributed import DistributedRun, create_distributed_run, parse_tf_config
from nwsrec.training.metrics import exact_auc, log_loss
from nwsrec.training.search import plot_search, search_result, write_search_result
from nwsrec.training.summaries import ProgressBar, RunSummaries, read_history, write_params_json
from nwsrec.training.trainer import TRAINING_DEFAULTS, EvalResult, Trainer, TrainResult

__all__ = [
    "TRAINING_DEFAULTS",
    "DistributedRun",
    "EvalResult",
    "ProgressBar",
    "RunSummaries",
    "TrainResult",
    "Trainer",
    "TrainingCheckpoint",
    "create_distributed_run",
    "exact_auc",
    "log_loss",
    "parse_tf_config",
    "plot_search",
    "read_history",
    "search_result",
    "write_params_json",
    "write_search_result",
]
