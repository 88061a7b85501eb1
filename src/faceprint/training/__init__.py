"""Training and fine-tuning: facenet-pytorch's helpers (:mod:`~faceprint.training.compat`),
data folders (:mod:`~faceprint.training.data`), losses
(:mod:`~faceprint.training.objectives`) and the training run (:func:`train`).

The run (:mod:`~faceprint.training.trainer`) is imported on first use, so that the command
line can read :mod:`~faceprint.training.schedule`'s choices without loading it."""

from faceprint.training.compat import BatchTimer, Logger, accuracy, collate_pil, pass_epoch

__all__ = [
    "BatchTimer",
    "Logger",
    "TrainConfig",
    "accuracy",
    "collate_pil",
    "pass_epoch",
    "train",
]


def __getattr__(name: str):
    if name in ("TrainConfig", "train"):
        from faceprint.training import trainer

        return getattr(trainer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
