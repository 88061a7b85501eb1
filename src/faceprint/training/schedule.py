"""What a training run trains with: the head's start, and the freeze, learning rate and epochs
by data size, measured for small sets by ``scripts/few_shot_lfw.py`` (README, "Training on a
few photos per person"). Kept free of heavy imports: the command line reads its choices."""

from __future__ import annotations

from dataclasses import dataclass

#: ``imprint``: the classifier starts at each person's centre in the starting embedding;
#: ``random``: a freshly initialised head; ``auto``: imprint when fine-tuning.
HEADS = ("auto", "imprint", "random")
#: A training set with fewer photos per person (the median) is small, and gets
#: :data:`SMALL_SET_DEFAULTS`.
SMALL_SET_PHOTOS = 50
#: freeze, lr and epochs for small sets, chosen by ``scripts/few_shot_lfw.py`` (README,
#: "Training on a few photos per person").
SMALL_SET_DEFAULTS = {"freeze": "repeat_3", "lr": 1e-3, "epochs": 3}
#: facenet-pytorch's notebook (lr, epochs), with the blocks up to repeat_3 frozen.
LARGE_SET_DEFAULTS = {"freeze": "repeat_3", "lr": 1e-3, "epochs": 8}


@dataclass(frozen=True)
class Schedule:
    """What a run trains with once ``"auto"`` and the defaults are resolved.

    Attributes:
        freeze: ``"none"``, ``"backbone"`` or a block of :data:`InceptionResnetV1.BLOCKS`.
        lr: the head's learning rate.
        epochs: passes over the training photos.
        head: ``"imprint"`` or ``"random"``.
        defaults: which defaults filled what was not given: ``"small set"``, ``"large set"``
            or ``"from scratch"``.
    """

    freeze: str
    lr: float
    epochs: int
    head: str
    defaults: str

    def describe(self) -> str:
        return (
            f"{self.defaults} defaults: freeze {self.freeze}, lr {self.lr:g}, "
            f"{self.epochs} epochs, {self.head} head"
        )


def resolve_schedule(config, photos_per_person: float) -> Schedule:
    """The freeze, learning rate, epochs and head of a
    :class:`~faceprint.training.trainer.TrainConfig`, its ``"auto"`` and None
    filled by data size: :data:`SMALL_SET_DEFAULTS` below :data:`SMALL_SET_PHOTOS` training
    photos per person (the median), else :data:`LARGE_SET_DEFAULTS`; from scratch nothing is
    frozen and the head is random."""
    if config.scratch:
        defaults, chosen = "from scratch", LARGE_SET_DEFAULTS | {"freeze": "none"}
    elif photos_per_person < SMALL_SET_PHOTOS:
        defaults, chosen = "small set", SMALL_SET_DEFAULTS
    else:
        defaults, chosen = "large set", LARGE_SET_DEFAULTS
    head = config.head
    if head == "auto":
        head = "random" if config.scratch else "imprint"
    return Schedule(
        freeze=chosen["freeze"] if config.freeze == "auto" else config.freeze,
        lr=chosen["lr"] if config.lr is None else config.lr,
        epochs=chosen["epochs"] if config.epochs is None else config.epochs,
        head=head,
        defaults=defaults,
    )
