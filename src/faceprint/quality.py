"""How useful a face is for recognition: a score in [0, 1], higher meaning more useful.

Three candidates, measured against each other by ``scripts/measure_quality.py`` (see the
quality guide):

- ``serfiq``: SER-FIQ (Terhoerst et al., CVPR 2020). The embedder's own dropout makes ``m``
  stochastic embeddings of one face; a face the network is sure of keeps them close together.
  InceptionResnetV1 has its dropout right before the bottleneck, so the trunk runs once and only
  dropout, bottleneck and normalisation repeat.
- ``heuristic``: a linear combination, fitted on LFW View 1 training people, of the crop's
  sharpness, brightness and contrast, the face's size and its pose read from the 5 landmarks.
  It needs no embedder.
- ``norm``: the length of the embedding before normalisation.
- ``serfiq+embedding``: SER-FIQ's spread and the unit embedding itself in one linear map,
  fitted for one model (its :attr:`faceprint.weights.Weights.quality_head`) on LFW View 1
  training people, then averaged (geometric mean) with plain SER-FIQ. Faces the network
  cannot place drift towards a common region of its embedding space, which SER-FIQ's spread
  alone does not see.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

import numpy as np
import torch
from scipy import ndimage
from torch.nn import functional as F

#: The quality methods, by name.
QUALITY_METHODS = ("serfiq+embedding", "serfiq", "heuristic", "norm")
#: The method :class:`faceprint.FaceRecognizer` scores faces with where its embedder allows it
#: (the best of ``scripts/measure_quality.py``'s error-versus-discard table).
DEFAULT_METHOD = "serfiq+embedding"
#: The methods that need SER-FIQ's spread (the embedder's dropout).
SPREAD_METHODS = ("serfiq+embedding", "serfiq")
#: The quality under which ``enroll`` (the command, the Python API and the service) refuses a
#: photo: the worst few percent of LFW's faces score under it (see the quality guide).
DEFAULT_MIN_QUALITY = 0.3
#: Stochastic passes of SER-FIQ, and the dropout rate they use.
SERFIQ_PASSES = 100
SERFIQ_DROPOUT = 0.5
#: The names of :func:`heuristic_features`' columns.
HEURISTIC_FEATURES = (
    "sharpness",
    "brightness",
    "brightness_squared",
    "contrast",
    "log_size",
    "yaw",
    "roll",
    "pitch",
)

# scripts/measure_quality.py --fit on LFW View 1 training people (peopleDevTrain.txt): the
# standardisation and weights of the heuristic, and the logistic maps of the other two.
# fmt: off
HEURISTIC_MEAN = np.array(
    (3.2445, 0.5052, 0.2620, 0.1615, 4.5334, 0.1111, 0.0359, 0.0769), np.float32
)
HEURISTIC_STD = np.array(
    (0.5171, 0.0821, 0.0826, 0.0348, 0.0773, 0.0940, 0.0384, 0.0606), np.float32
)
HEURISTIC_WEIGHTS = np.array(
    (0.4944, 2.2246, -2.0030, -0.4406, 0.0143, -0.2423, -0.4821, -0.4101), np.float32
)
HEURISTIC_BIAS = 1.2228
SERFIQ_CENTER, SERFIQ_SCALE = 0.27530, 0.004434
NORM_CENTER, NORM_SCALE = 11.0375, 0.5380
# fmt: on


def _logistic(x: np.ndarray) -> np.ndarray:
    return (1.0 / (1.0 + np.exp(-np.clip(x, -60.0, 60.0)))).astype(np.float32)


@dataclass(frozen=True)
class LinearQuality:
    """A fitted quality: standardised measurements, weighted, through a logistic into [0, 1].

    ``mean``, ``std`` and ``weights`` are ``(F,)`` over the F measurements; ``bias`` puts the
    worst tenth of the training faces under 0.5.
    """

    mean: np.ndarray
    std: np.ndarray
    weights: np.ndarray
    bias: float

    def __call__(self, measurements: np.ndarray) -> np.ndarray:
        """``(N, F)`` (or ``(F,)``) measurements -> ``(N,)`` (or scalar) float32 in [0, 1]."""
        z = (np.asarray(measurements, np.float32) - self.mean) / self.std
        return _logistic(z @ self.weights + self.bias)


HEURISTIC = LinearQuality(HEURISTIC_MEAN, HEURISTIC_STD, HEURISTIC_WEIGHTS, HEURISTIC_BIAS)


@functools.cache
def load_quality_head(asset: str) -> LinearQuality:
    """The ``serfiq+embedding`` map of one model, from ``faceprint/assets/ASSET`` (an ``.npz``
    of ``mean``, ``std``, ``weights`` over ``(D + 1,)`` measurements, and ``bias``), as
    ``scripts/measure_quality.py --write-head`` fits it."""
    with resources.files("faceprint").joinpath("assets", asset).open("rb") as f:
        arrays = np.load(f, allow_pickle=False)
        return LinearQuality(
            arrays["mean"].astype(np.float32),
            arrays["std"].astype(np.float32),
            arrays["weights"].astype(np.float32),
            float(arrays["bias"]),
        )


def embedding_measurements(embeddings: np.ndarray, spreads: np.ndarray) -> np.ndarray:
    """What ``serfiq+embedding`` weighs: ``(N, D)`` unit embeddings and ``(N,)`` SER-FIQ
    spreads -> ``(N, D + 1)`` float32, the embedding then the log of the spread."""
    spreads = np.clip(np.asarray(spreads, np.float32), 1e-6, None)
    return np.column_stack([np.asarray(embeddings, np.float32), np.log(spreads)])


def embedding_quality(
    embeddings: np.ndarray, spreads: np.ndarray, head: LinearQuality
) -> np.ndarray:
    """``serfiq+embedding`` scores in [0, 1]: the geometric mean of the model's fitted map of
    embedding and spread and of plain SER-FIQ (the mean cut FNMR the most on LFW, and keeps
    SER-FIQ's fall under blur, downscaling and JPEG damage).

    Args:
        embeddings: ``(N, D)`` unit embeddings of the model ``head`` was fitted for.
        spreads: ``(N,)`` :func:`serfiq_spread` distances of the same faces.
        head: the model's map (:func:`load_quality_head`).

    Returns:
        ``(N,)`` float32 in [0, 1].
    """
    fitted = np.atleast_1d(head(embedding_measurements(embeddings, spreads)))
    return np.sqrt(fitted * serfiq_quality(spreads)).astype(np.float32)


def heuristic_features(
    crop: np.ndarray, box: np.ndarray | None = None, landmarks: np.ndarray | None = None
) -> np.ndarray:
    """The image measurements the heuristic combines, one face.

    Args:
        crop: ``(S, S, 3)`` uint8 RGB face crop (the embedder's aligned crop).
        box: ``(4,)`` detection box ``x1, y1, x2, y2`` in image pixels; None (no detection):
            the crop's own side stands for the face's size.
        landmarks: ``(5, 2)`` eyes, nose, mouth corners in image pixels; None: a frontal pose.

    Returns:
        ``(8,)`` float32 in :data:`HEURISTIC_FEATURES` order: log(1 + variance of the
        Laplacian) of the grey crop, mean grey level and its square (0..1), grey standard
        deviation (0..1), log of the box's shorter side in pixels, and yaw, roll and pitch
        read from the landmarks (0 for a frontal face, growing as it turns).
    """
    grey = np.asarray(crop, np.float32) @ np.array((0.299, 0.587, 0.114), np.float32)
    sharpness = np.log1p(ndimage.laplace(grey).var())
    brightness = grey.mean() / 255.0
    contrast = grey.std() / 255.0
    side = float(grey.shape[0]) if box is None else float(min(box[2] - box[0], box[3] - box[1]))
    yaw = roll = pitch = 0.0
    if landmarks is not None and np.all(np.isfinite(landmarks)):
        left, right, nose, mouth_l, mouth_r = np.asarray(landmarks, np.float64)
        eyes = right - left
        eye_distance = max(float(np.hypot(*eyes)), 1e-3)
        eye_mid, mouth_mid = (left + right) / 2, (mouth_l + mouth_r) / 2
        yaw = abs(nose[0] - (eye_mid[0] + mouth_mid[0]) / 2) / eye_distance
        roll = abs(float(np.arctan2(eyes[1], eyes[0])))
        height = max(mouth_mid[1] - eye_mid[1], 1e-3)
        pitch = abs((nose[1] - eye_mid[1]) / height - 0.55)
    return np.array(
        (sharpness, brightness, brightness**2, contrast, np.log(max(side, 1.0)), yaw, roll, pitch),
        np.float32,
    )


def heuristic_quality(features: np.ndarray) -> np.ndarray:
    """The heuristic score of faces from their :func:`heuristic_features`.

    Args:
        features: ``(N, 8)`` (or ``(8,)``) float rows of :func:`heuristic_features`.

    Returns:
        ``(N,)`` (or a scalar array) float32 in [0, 1].
    """
    return HEURISTIC(features)


def serfiq_spread(
    pooled: torch.Tensor,
    head: torch.nn.Module,
    passes: int = SERFIQ_PASSES,
    dropout: float = SERFIQ_DROPOUT,
    seed: int = 0,
) -> torch.Tensor:
    """SER-FIQ's measurement: the mean pairwise distance of ``passes`` stochastic embeddings.

    Args:
        pooled: ``(B, C)`` (or ``(B, C, 1, 1)``) features that enter the embedder's dropout.
        head: what follows the dropout up to the embedding before normalisation (for
            InceptionResnetV1, ``last_linear`` then ``last_bn``).
        passes: stochastic embeddings per face, at least 2.
        dropout: the probability of zeroing a feature, in (0, 1).
        seed: the masks' random seed (a fixed seed makes a face's score repeatable).

    Returns:
        ``(B,)`` float32 mean L2 distance between the unit stochastic embeddings, in [0, 2]
        (lower: the network is surer of the face).
    """
    # In float32 even under a caller's bf16 autocast: the distances between near-identical
    # unit vectors are what is measured, and the head is small next to the trunk.
    with torch.autocast(pooled.device.type, enabled=False):
        x = pooled.flatten(1).float()
        generator = torch.Generator(device=x.device).manual_seed(seed)
        keep = torch.rand((passes, 1, x.shape[1]), generator=generator, device=x.device)
        # (passes, B, C) -> (passes * B, C): every face sees the same masks.
        masked = (x.unsqueeze(0) * (keep >= dropout) / (1.0 - dropout)).reshape(-1, x.shape[1])
        head_param = next(head.parameters())
        embeddings = head(masked.to(head_param.dtype)).float()
        embeddings = F.normalize(embeddings, dim=1)
        embeddings = embeddings.reshape(passes, x.shape[0], -1).transpose(0, 1)  # (B, passes, D)
        gram = embeddings @ embeddings.transpose(1, 2)
        distances = torch.sqrt(torch.clamp(2.0 - 2.0 * gram, min=0.0))
        return distances.sum(dim=(1, 2)) / (passes * (passes - 1))


def serfiq_quality(spread: np.ndarray) -> np.ndarray:
    """SER-FIQ scores in [0, 1] from :func:`serfiq_spread`'s ``(N,)`` distances."""
    return _logistic(-(np.asarray(spread, np.float32) - SERFIQ_CENTER) / SERFIQ_SCALE)


def norm_quality(norms: np.ndarray) -> np.ndarray:
    """Norm scores in [0, 1] from ``(N,)`` lengths of the embeddings before normalisation."""
    return _logistic((np.asarray(norms, np.float32) - NORM_CENTER) / NORM_SCALE)
