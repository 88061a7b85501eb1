"""Exception classes. Each message says what went wrong and what to do about it."""

from __future__ import annotations


def listed(items, limit: int = 5) -> str:
    """The first ``limit`` of ``items`` for a message, as ``"a, b, c, ..."`` when more follow."""
    items = [str(item) for item in items]
    return ", ".join(items[:limit]) + (", ..." if len(items) > limit else "")


class FaceprintError(Exception):
    """Base class of every error faceprint raises on purpose, but for a missing optional
    dependency (:class:`MissingExtraError`, an ``ImportError``)."""


class ImageError(FaceprintError, ValueError):
    """An input image cannot be used: unreadable, wrong shape or dtype, too small or too large."""


class NoFaceError(FaceprintError, ValueError):
    """An image in which no face was detected, where the operation needs one."""


class WeightsError(FaceprintError):
    """Pretrained weights cannot be found, fetched or loaded."""


class WeightsChecksumError(WeightsError):
    """A fetched or cached weights file does not have the sha256 its registry record expects."""


class WeightsNotFoundError(WeightsError):
    """Weights are not available locally and may not (offline mode) or could not be fetched."""


class UnknownModelError(WeightsError, KeyError):
    """A model name that is not in the weights registry."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class UncalibratedError(FaceprintError, ValueError):
    """A (detector, alignment) pair for which a model has no calibrated threshold, impostor
    distribution or face filter; the message names the pairs that are calibrated. The CLI
    treats it as a usage error (exit 2)."""


class GalleryError(FaceprintError):
    """A gallery file that cannot be used, or an operation the gallery refuses."""


class ModelMismatchError(GalleryError):
    """Embeddings from another model or alignment than the gallery's."""


class EmbeddingError(GalleryError, ValueError):
    """Vectors that are not unit embeddings: off unit length by more than rounding, or not
    finite."""


class LibraryError(GalleryError):
    """A photo library that cannot be used (its store damaged, another model's), or a change of
    its people that it refuses (an unknown person or face, a name taken)."""


class DatasetError(FaceprintError, ValueError):
    """A training or validation folder that cannot be used as it is."""


class TrainingError(FaceprintError):
    """A training run that cannot go on: a NaN loss, a checkpoint that does not fit."""


class VideoError(FaceprintError, ValueError):
    """A video file cannot be read (not a video, no video stream, no frames) or written."""


class MissingExtraError(ImportError):
    """An optional dependency is not installed; the message names the extra that installs it
    (``pip install 'faceprint[onnx]'``). The CLI treats it as a usage error (exit 2)."""


class ApiKeyError(FaceprintError, ValueError):
    """A keys file of ``faceprint serve`` that cannot be read, or a key request it refuses."""


class DatasetMismatchError(FaceprintError, ValueError):
    """An embed job's output folder holds rows made another way (another model or alignment,
    or with and without the attribute columns) than the job would add."""
