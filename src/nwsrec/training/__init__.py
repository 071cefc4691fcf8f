"""nwsrec.training: the training loop, checkpoints, evaluation and run reports.

- :class:`Trainer`: nwsrec's own ``tf.function`` step over a ``tf.distribute`` strategy;
  dense weights with one Keras optimizer, NWS architecture weights with their own,
  embedding tables with theirs (sparse updates).
- :class:`TrainingCheckpoint`: ``tf.train.CheckpointManager`` over the whole run state.
- :class:`RunSummaries`, :class:`ProgressBar`, :func:`write_params_json`: reports.
- :func:`create_distributed_run`, :func:`parse_tf_config`, :class:`DistributedRun`: the
  strategy of a run from ``--strategy`` and ``TF_CONFIG`` (MultiWorkerMirroredStrategy,
  ParameterServerStrategy with a ClusterCoordinator); see ``docs/scaling.md``.
"""

from nwsrec.training.checkpoints import TrainingCheckpoint
from nwsrec.training.distributed import DistributedRun, create_distributed_run, parse_tf_config
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
    "parse_tf_config",
    "read_history",
    "write_params_json",
]
