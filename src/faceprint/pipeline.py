"""Image -> faces -> embeddings: detection, alignment and embedding composed, from registry
names."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from PIL import Image
from torch.nn import functional as F
from tqdm import tqdm

from faceprint.alignment import Alignment, AlignMethod, center_box, standardize
from faceprint.attributes import AttributeAnalyzer, FaceAttributes
from faceprint.boxes import box_area
from faceprint.detection.base import Detector
from faceprint.detection.registry import create_detector
from faceprint.errors import FaceprintError, ModelMismatchError, NoFaceError, UncalibratedError
from faceprint.images import ImageInput, as_image_list, is_batch, to_pil
from faceprint.models.dlib_resnet import DlibResNet
from faceprint.models.ensemble import EmbeddingEnsemble, fuse_embeddings
from faceprint.models.inception_resnet_v1 import InceptionResnetV1
from faceprint.models.inference import optimize_for_inference
from faceprint.models.onnx_runtime import check_backend
from faceprint.precision import resolve_precision
from faceprint.quality import (
    SPREAD_METHODS,
    embedding_quality,
    heuristic_features,
    heuristic_quality,
    load_quality_head,
    serfiq_quality,
    serfiq_spread,
)
from faceprint.weights.calibration import distance_at_far, far_at_distance
from faceprint.weights.factory import create_model, get_weights
from faceprint.weights.registry import BASE_DETECTOR, DetectorCalibration, Weights

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "ms-celeb-1m"
DEFAULT_DETECTOR = "mtcnn"
DEFAULT_PRECISION = "auto"
#: Default verification false-accept rate: about 1 in 1000 pairs of strangers called the same.
DEFAULT_VERIFY_FAR = 1e-3


class SearchableGallery(Protocol):
    """What :meth:`FaceRecognizer.identify` needs of a gallery (:class:`faceprint.Gallery` has
    it): the ``model/alignment`` it holds, and a search of ``(Q, D)`` unit embeddings."""

    @property
    def model(self) -> str: ...

    def search(self, embeddings: np.ndarray, k: int = 1) -> list: ...


@dataclass
class Face:
    """One face found in an image.

    Attributes:
        box: ``(4,)`` float32 ``x1, y1, x2, y2`` in image pixels (for ``align="none"`` and for
            fallback crops: the region that was embedded).
        probability: detection probability in [0, 1]; None where nothing was detected and the
            fallback crop was embedded instead.
        landmarks: ``(5, 2)`` float32 eyes, nose, mouth corners; None when not detected.
        embedding: ``(D,)`` float32 unit vector.
        quality: how useful the face is for recognition, in [0, 1], higher meaning more
            useful (:mod:`faceprint.quality`; :attr:`FaceRecognizer.quality_method` says which
            method scored it). None only for a Face built by hand.
    """

    box: np.ndarray
    probability: float | None
    landmarks: np.ndarray | None
    embedding: np.ndarray
    quality: float | None = None

    @property
    def detected(self) -> bool:
        """False for a fallback crop that stands in for a missed detection."""
        return self.probability is not None


@dataclass(frozen=True)
class Region:
    """Where a face is in one image of a batch, for :meth:`FaceRecognizer.embed_regions`.

    Attributes:
        image: index of the image in the batch.
        box: ``(4,)`` detection box, or None for the fallback centre crop.
        probability: detection probability, None without a detection.
        landmarks: ``(5, 2)`` landmarks of the detection, or None.
    """

    image: int
    box: np.ndarray | None = None
    probability: float | None = None
    landmarks: np.ndarray | None = None


@dataclass(frozen=True)
class Verification:
    """The answer to "are these the same person?".

    Attributes:
        distance: L2 distance between the two unit embeddings, in [0, 2].
        same: ``distance < threshold``.
        threshold: the threshold used.
        faces: the face compared from each image (the largest one).
        false_accept_rate: the fraction of pairs of two different people (the model's View 1
            impostor distribution) that come at least this close: how unusual this distance
            would be for strangers. None where the model has no recorded distribution.
    """

    distance: float
    same: bool
    threshold: float
    faces: tuple[Face, Face]
    false_accept_rate: float | None = None


def model_alignment(
    record: Weights, method: str | None = None, detector: str = BASE_DETECTOR
) -> Alignment:
    """The alignment ``method`` (default: the record's own) with the parameters tuned for the
    model of ``record``, its input size and the faces of ``detector`` (a registry name)."""
    method = method or record.default_align
    parameters = {"image_size": record.input_size or 160} | dict(record.alignment.get(method, {}))
    tuned = record.detector_calibrations.get(detector, {}).get(method)
    if tuned is not None:
        parameters |= dict(tuned.alignment)
    return Alignment(method=method, **parameters)


def member_align(record: Weights, align: str | None) -> str | None:
    """The alignment an ensemble member cuts with when the ensemble is asked for ``align``:
    ``align`` where the member has it tuned, else None (the member's own)."""
    return align if align in record.alignment else None


def alignment_method(record: Weights, align: str | None = None) -> str:
    """The alignment method ``FaceRecognizer(record, align)`` cuts with and names in what it
    writes (an ensemble's is its first member's), without building it."""
    if record.members:
        first = get_weights(record.members[0])
        return member_align(first, align) or first.default_align
    return align or record.default_align


def detection_record(box, probability: float, landmarks, quality: float | None = None) -> dict:
    """One detection as JSON: ``box`` ``[x1, y1, x2, y2]`` and ``landmarks`` ``[[x, y]] * 5``
    in pixels to 0.01 px, ``probability`` in [0, 1] to 1e-6, and, where given, ``quality`` in
    [0, 1] to 1e-4 (what ``faceprint detect --json`` and the service's answers carry)."""
    record = {
        "box": [round(float(v), 2) for v in box],
        "probability": round(float(probability), 6),
        "landmarks": [[round(float(x), 2), round(float(y), 2)] for x, y in landmarks],
    }
    if quality is not None:
        record["quality"] = round(float(quality), 4)
    return record


def crop_quality(image: Image.Image, box, landmarks, alignment: Alignment | None = None) -> float:
    """The heuristic quality (:func:`faceprint.quality.heuristic_quality`, no embedder) of one
    detection, in [0, 1], measured on its crop by ``alignment`` (default: the default model's).

    Args:
        image: RGB PIL image.
        box: ``(4,)`` detection box in pixels.
        landmarks: ``(5, 2)`` landmarks in pixels.
        alignment: how the face is cropped.
    """
    alignment = alignment or model_alignment(get_weights(DEFAULT_MODEL))
    crop = np.asarray(alignment.crop(image, np.asarray(box), np.asarray(landmarks)))
    return float(heuristic_quality(heuristic_features(crop, box, landmarks)))


def recognisable(region: Region, min_probability: float, min_face_size: float) -> bool:
    """Whether a detection is at least ``min_probability`` likely and its box's shorter side
    at least ``min_face_size`` pixels (a region without a box is the fallback crop: kept)."""
    if region.box is None:
        return True
    x1, y1, x2, y2 = region.box
    side = min(x2 - x1, y2 - y1)
    return (region.probability or 0.0) >= min_probability and side >= min_face_size


def make_detector(
    detector: str | Detector | None,
    device: str | torch.device | None = None,
    backend: str = "torch",
    **options: object,
) -> Detector:
    """The detector a recognizer runs: ``detector`` itself where it is one, else the registry's
    detector of that name (None: ``"mtcnn"``) on ``device`` and ``backend``, built with its
    constructor ``options`` (e.g. ``min_face_size``)."""
    if detector is None or isinstance(detector, str):
        options["device"] = device
        if backend != "torch":
            options["backend"] = backend
        return create_detector(detector or DEFAULT_DETECTOR, **options)
    return detector


class FaceRecognizer:
    """Detector -> alignment -> embedding model, built from a registry name.

    Args:
        model: registry name of the embedding weights (``"ms-celeb-1m"``, ``"vggface2"``, ...)
            or the path of a faceprint model file; :func:`faceprint.create_model` builds the
            architecture its record names.
        align: ``"box"`` (facenet-pytorch's margin crop), ``"similarity"`` (5-point warp onto
            a template), ``"dlib"`` (dlib's 5-point chip) or ``"none"`` (fixed centre crop for
            pre-aligned images), or an :class:`~faceprint.alignment.Alignment` with every
            parameter set. Method names take the parameters tuned for this model (its registry
            record); None (default) is the model's own (``box``; ``dlib`` for dlib-resnet-v1).
        device: torch device for both networks.
        threshold: same-person distance threshold; overrides ``far``.
        far: the false-accept rate the default threshold is chosen for: the fraction of pairs
            of two different people accepted as the same, read off the model's impostor
            distribution (LFW View 1). Default 1e-3, about 1 in 1000 strangers. Models without
            a recorded distribution use their LFW-accuracy threshold.
        batch_size: faces per embedding forward pass.
        detector: the face detector: a registry name (``"mtcnn"``, the default;
            ``"centerface"``; fused names such as ``"mtcnn+centerface"``, see
            :func:`faceprint.detection.create_detector`) built on ``device`` and ``backend``,
            or a ready :class:`~faceprint.detection.Detector`.
        weights_path: load the embedding weights from this file.
        precision: ``"auto"`` (default), ``"fp32"`` or ``"bf16"``. ``"bf16"`` runs the
            embedding network under bfloat16 autocast, faster on CPUs with AVX-512 BF16/AMX and
            on recent GPUs; its LFW accuracy is within 0.1 pp of fp32 (see the README).
            ``"auto"`` takes ``$FACEPRINT_PRECISION`` where set (``bf16`` or ``fp32``), else
            bf16 where the device computes it natively
            (:func:`faceprint.precision.native_precision`), else fp32.
            Every precision returns float32 unit embeddings.
            ``"int8"`` runs the embedder quantized in ONNX Runtime (built once, see
            ``calibration``).
        backend: ``"torch"`` or ``"onnxruntime"``: the embedder and the detector's networks
            run in ONNX Runtime (MTCNN's as exports made once and cached, CenterFace's as its
            original graph); the cascade, the decoding and the pipeline around them are the
            same code.
        calibration: ``precision="int8"``: face photos (a folder or a list) whose crops set the
            quantization ranges. The int8 model is built once per set of photos (their paths,
            sizes and times) and cached; None uses the cached one.
        min_probability: detections less likely than this are not faces to recognise
            (MTCNN's false positives on patterned cloth, for example); default: the model's
            record, tuned on LFW View 1.
        min_face_size: detections whose shorter side is below this many pixels are too small
            to recognise; default: the model's record, tuned on LFW View 1. Ignored detections
            are counted in :attr:`ignored`.

    Standardization follows the weights' record, so callers never handle it; so does
    ``flip_average`` (the mirror image embedded too, for dlib-resnet-v1).
    """

    def __init__(
        self,
        model: str | os.PathLike = DEFAULT_MODEL,
        align: AlignMethod | Alignment | None = None,
        device: str | torch.device | None = None,
        threshold: float | None = None,
        far: float = DEFAULT_VERIFY_FAR,
        min_probability: float | None = None,
        min_face_size: float | None = None,
        batch_size: int = 32,
        detector: str | Detector | None = None,
        weights_path: str | os.PathLike | None = None,
        precision: str = DEFAULT_PRECISION,
        backend: str = "torch",
        calibration: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
    ) -> None:
        check_backend(backend)
        self.weights = get_weights(model)
        self.precision = resolve_precision(precision, device, self.weights.auto_bf16)
        if self.precision == "int8":
            check_backend("onnxruntime", "precision='int8' (--precision int8)")
        self.backend = backend
        self.detector = make_detector(detector, device, backend)
        #: An ensemble's member recognizers (sharing this detector); empty for one model.
        self.members: list[FaceRecognizer] = []
        if self.weights.architecture == "ensemble":
            self._make_members(align, device, batch_size, precision, backend)
            self.model = EmbeddingEnsemble(
                [m.model for m in self.members], self.weights.member_weights
            )
            self.alignment, self.fallback = self.members[0].alignment, self.members[0].fallback
        else:
            self.model = create_model(self.weights, weights_path=weights_path, device=device)
            self.model.eval()
            if isinstance(align, Alignment):
                self.alignment = align
            else:
                self.alignment = model_alignment(self.weights, align, self.detector.name)
            self.fallback = model_alignment(self.weights, "none")
        #: The threshold, impostor distribution and face filter of this (detector, alignment).
        self.calibration = self._calibration(threshold is not None)
        self.impostor_distances = self.calibration.impostor_distances
        if threshold is None and self.impostor_distances is not None:
            threshold = distance_at_far(self.impostor_distances, far)
        if threshold is None:
            threshold = self.calibration.threshold
        if threshold is None:
            raise UncalibratedError(
                f"{self.weights.name} has no threshold for {self.detector.name}/"
                f"{self.alignment.method}; pass threshold= (--threshold)"
            )
        self.threshold = float(threshold)
        self.batch_size = batch_size
        self.min_probability = float(
            self.calibration.min_face_probability if min_probability is None else min_probability
        )
        self.min_face_size = float(
            self.calibration.min_face_size if min_face_size is None else min_face_size
        )
        #: Detections passed over so far as too unlikely or too small to recognise.
        self.ignored = 0
        self._embedder = self._make_embedder(model, calibration)
        self.device = device
        self._attributes: AttributeAnalyzer | None = None

    def _calibration(self, threshold_given: bool) -> DetectorCalibration:
        """The record's calibration for this detector and alignment. A pair without one is an
        error, unless a threshold is given: then nothing calibrated is used (no impostor
        distribution, no face filter but the one passed)."""
        try:
            return self.weights.calibration(self.detector.name, self.alignment.method)
        except UncalibratedError:
            if not threshold_given:
                raise
            logger.warning(
                "%s is not calibrated for %s/%s: using the given threshold and no face filter",
                self.weights.name,
                self.detector.name,
                self.alignment.method,
            )
            return DetectorCalibration()

    def _make_members(self, align, device, batch_size, precision, backend) -> None:
        """An ensemble's members: each with its own alignment (``align`` where the member has
        it tuned, else its own) and standardization, all sharing this recognizer's detector."""
        if backend != "torch" or precision == "int8":
            raise ValueError("an ensemble runs with backend='torch' in fp32 or bf16")
        if isinstance(align, Alignment):
            raise ValueError("an ensemble takes an alignment method name; each member has its own")
        for name in self.weights.members:
            record = get_weights(name)
            self.members.append(
                FaceRecognizer(
                    record,
                    align=member_align(record, align),
                    device=device,
                    threshold=2.0,  # members are never asked for a verdict
                    min_probability=0.0,
                    min_face_size=0.0,
                    batch_size=batch_size,
                    detector=self.detector,
                    precision=precision,
                )
            )

    def _make_embedder(self, model, calibration):
        """The network embed_crops runs: torch (folded), or an ONNX Runtime session (fp32 or
        int8)."""
        if self.members:
            return None
        if self.backend == "torch" and self.precision != "int8":
            if isinstance(self.model, (InceptionResnetV1, DlibResNet)):
                return optimize_for_inference(self.model)
            return self.model
        from faceprint.files import files_fingerprint, sha256_file
        from faceprint.models.onnx_runtime import OnnxNetwork, cached_onnx, quantized_onnx

        is_file = isinstance(model, (str, os.PathLike)) and os.path.isfile(model)
        sha = sha256_file(model) if is_file else self.weights.sha256
        fp32 = next(iter(cached_onnx(model if is_file else self.weights.name, sha).values()))
        if self.precision != "int8":
            self.precision = "fp32"  # the exported graph is float32
            return OnnxNetwork(fp32)
        if calibration is None:
            return OnnxNetwork(quantized_onnx(fp32))
        photos = self.calibration_photos(calibration)
        calibration_id = files_fingerprint(photos)
        try:
            return OnnxNetwork(quantized_onnx(fp32, calibration_id=calibration_id))
        except FaceprintError:
            crops = self.calibration_crops(photos)
        return OnnxNetwork(quantized_onnx(fp32, crops, calibration_id=calibration_id))

    @staticmethod
    def calibration_photos(
        images: str | os.PathLike | Sequence[str | os.PathLike],
    ) -> list[Path]:
        """The photo files of a calibration set: a folder's images (searched recursively), or
        the given list."""
        from faceprint.images import image_files

        if isinstance(images, (str, os.PathLike)):
            return list(image_files(images))
        return [Path(p) for p in images]

    def calibration_crops(
        self, images: str | os.PathLike | Sequence[str | os.PathLike], limit: int = 256
    ) -> np.ndarray:
        """Standardized face crops of up to ``limit`` photos (a folder, searched recursively,
        or a list of files) for int8 calibration: ``(N, 3, S, S)`` float32."""
        from faceprint.images import load_image

        crops = []
        for path in tqdm(self.calibration_photos(images), desc="calibration crops", unit="img"):
            if len(crops) == limit:
                break
            image = load_image(path)
            regions = self.detect_regions([image])[0]
            if regions:
                crops.append(np.asarray(self.crop(image, regions[0].box, regions[0].landmarks)))
        if not crops:
            raise NoFaceError(f"no face found in the calibration photos {images}")
        tensor = torch.from_numpy(np.stack(crops)).permute(0, 3, 1, 2).float()
        return standardize(tensor, self.weights.standardization).numpy()

    def alignment_parameters(self) -> dict:
        """The alignment's parameters; for an ensemble, each member's, by member name."""
        if self.members:
            return {m.weights.name: m.alignment.parameters() for m in self.members}
        return self.alignment.parameters()

    @property
    def embedding_size(self) -> int:
        """Length D of the embeddings."""
        return int(self.weights.embedding_size or self.model.embedding_size)

    @property
    def name(self) -> str:
        """``model/alignment``, e.g. ``ms-celeb-1m/box``: what made an embedding (precision
        changes embeddings by less than the noise between photos, so galleries mix them)."""
        return f"{self.weights.name}/{self.alignment.method}"

    def embed(
        self,
        images: ImageInput | Sequence[ImageInput],
        fallback: bool = False,
        progress: bool = False,
    ) -> list[Face] | list[list[Face]]:
        """Find and embed every face.

        Args:
            images: one image or a batch (paths, PIL images, ``(H, W, 3)`` uint8 arrays; sizes
                may differ).
            fallback: where no face is found, embed the fixed centre crop instead (a Face with
                ``probability=None``), as LFW protocols do, rather than return no face.
            progress: show a progress bar.

        Returns:
            For one image, its faces (largest first); for a batch, one such list per image.
        """
        batch = is_batch(images)
        items = as_image_list(images)
        results: list[list[Face]] = []
        chunk = max(1, self.batch_size)
        with tqdm(total=len(items), desc="embedding", unit="img", disable=not progress) as bar:
            for start in range(0, len(items), chunk):
                results.extend(self._embed_chunk(items[start : start + chunk], start, fallback))
                bar.update(len(items[start : start + chunk]))
        return results if batch else results[0]

    def _embed_chunk(
        self, items: Sequence[ImageInput], offset: int, fallback: bool
    ) -> list[list[Face]]:
        pils = [to_pil(x, f"image {offset + i}") for i, x in enumerate(items)]
        regions: list[Region] = []
        if self.alignment.method == "none":
            regions = [Region(i) for i in range(len(pils))]
        else:
            for i, kept in enumerate(self.detect_regions(pils)):
                regions += kept or ([Region(i)] if fallback else [])
        faces: list[list[Face]] = [[] for _ in pils]
        for region, face in zip(regions, self.embed_regions(pils, regions), strict=True):
            faces[region.image].append(face)
        return faces

    def detect_regions(
        self, images: Sequence[Image.Image], detector: Detector | None = None
    ) -> list[list[Region]]:
        """The recognisable detections of each RGB image (``Region.image`` is its index);
        the others are counted in :attr:`ignored`.

        Args:
            images: RGB PIL images.
            detector: another detector than :attr:`detector` (e.g. one that searches only
                faces large enough to recognise).
        """
        out = []
        for found in self.detect_all(images, detector):
            kept = [r for r in found if self.recognisable(r)]
            self.ignored += len(found) - len(kept)
            out.append(kept)
        return out

    def detect_all(
        self, images: Sequence[Image.Image], detector: Detector | None = None
    ) -> list[list[Region]]:
        """Every detection of each RGB image, recognisable or not, largest first
        (``Region.image`` is the image's index); :meth:`detect_regions` keeps the recognisable."""
        out = []
        for i, found in enumerate((detector or self.detector).detect_batch(list(images))):
            sides = found.boxes[:, 2:] - found.boxes[:, :2]
            order = np.argsort(-(sides[:, 0] * sides[:, 1]), kind="stable")
            out.append(
                [
                    Region(i, found.boxes[k], float(found.scores[k]), found.landmarks[k])
                    for k in order
                ]
            )
        return out

    def recognisable(self, region: Region) -> bool:
        """Whether a detection is likely and large enough to be recognised."""
        return recognisable(region, self.min_probability, self.min_face_size)

    def embed_regions(self, images: Sequence[Image.Image], regions: Sequence[Region]) -> list[Face]:
        """Crop and embed given face regions: the one crop-then-embed step every caller uses.

        Args:
            images: RGB PIL images.
            regions: the faces to embed; a region without a box embeds its image's fallback
                centre crop.

        Returns:
            One :class:`Face` per region, in order.
        """
        if self.members:
            per_member = [member.embed_regions(images, regions) for member in self.members]
            fused = (
                fuse_embeddings(
                    [
                        torch.from_numpy(np.stack([f.embedding for f in faces]))
                        for faces in per_member
                    ],
                    self.weights.member_weights,
                ).numpy()
                if regions
                else np.zeros((0, self.embedding_size), np.float32)
            )
            return [
                dataclasses.replace(face, embedding=embedding)
                for face, embedding in zip(per_member[0], fused, strict=True)
            ]
        crops, boxes = [], []
        for region in regions:
            image = images[region.image]
            crops.append(self.crop(image, region.box, region.landmarks))
            if region.box is None:
                centre = self._without_face
                boxes.append(
                    center_box(image.width, image.height, centre.crop_size, centre.crop_offset)
                )
            else:
                boxes.append(region.box)
        embeddings, spreads = self._embed(crops, with_spread=True)
        if spreads is None:
            scores = [
                float(heuristic_quality(heuristic_features(np.asarray(crop), r.box, r.landmarks)))
                for crop, r in zip(crops, regions, strict=True)
            ]
        else:
            scores = self._spread_quality(embeddings, spreads).tolist()
        return [
            Face(np.asarray(box, dtype=np.float32), region.probability, region.landmarks, emb, q)
            for region, box, emb, q in zip(regions, boxes, embeddings, scores, strict=True)
        ]

    @property
    def quality_method(self) -> str:
        """How :attr:`Face.quality` is scored: where the embedder is a torch InceptionResnetV1
        (its own dropout), ``"serfiq+embedding"`` if the model has a fitted quality head
        (``ms-celeb-1m``), else ``"serfiq"``; ``"heuristic"`` everywhere else (ONNX Runtime
        and int8 backends, dlib-resnet-v1, MobileFaceNet). An ensemble scores with its first
        member's."""
        if self.members:
            return self.members[0].quality_method
        if not isinstance(self._embedder, InceptionResnetV1):
            return "heuristic"
        return "serfiq+embedding" if self.weights.quality_head else "serfiq"

    def _spread_quality(self, embeddings: np.ndarray, spreads: np.ndarray) -> np.ndarray:
        """``(N,)`` qualities in [0, 1] from the unit embeddings and SER-FIQ spreads of
        :meth:`_embed` (the methods of :data:`faceprint.quality.SPREAD_METHODS`)."""
        if self.quality_method == "serfiq+embedding":
            head = load_quality_head(self.weights.quality_head)
            return embedding_quality(embeddings, spreads, head)
        return serfiq_quality(spreads)

    def crop(
        self,
        image: Image.Image,
        box: np.ndarray | None = None,
        landmarks: np.ndarray | None = None,
    ) -> Image.Image:
        """The aligned face crop of one detection, or the fallback centre crop without one.

        Args:
            image: RGB PIL image.
            box: ``(4,)`` detection box, or None (no detection).
            landmarks: ``(5, 2)`` landmarks of that detection.
        """
        if box is None or self.alignment.method == "none":
            return self._without_face.crop(image, None, None)
        return self.alignment.crop(image, box, landmarks)

    @property
    def _without_face(self) -> Alignment:
        """The centre crop used where no detection guides the crop: the model's own for
        ``align="none"``, else the fallback."""
        return self.alignment if self.alignment.method == "none" else self.fallback

    def embed_crops(self, crops: Sequence[Image.Image] | torch.Tensor) -> np.ndarray:
        """Embed aligned face crops.

        Args:
            crops: RGB PIL crops, or a ``(N, 3, S, S)`` tensor with values 0..255.

        Returns:
            ``(N, D)`` float32 unit embeddings.
        """
        return self._embed(crops)[0]

    def embed_crops_scored(
        self, crops: Sequence[Image.Image] | torch.Tensor
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`embed_crops`, with each crop's quality.

        Args:
            crops: RGB PIL crops, or a ``(N, 3, S, S)`` tensor with values 0..255.

        Returns:
            ``(N, D)`` float32 unit embeddings and ``(N,)`` float32 qualities in [0, 1] by
            :attr:`quality_method` (the heuristic, without box or landmarks, takes the crop's
            side for the face's size and a frontal pose).
        """
        embeddings, spreads = self._embed(crops, with_spread=True)
        if spreads is not None:
            return embeddings, self._spread_quality(embeddings, spreads)
        if isinstance(crops, torch.Tensor):
            pixels = crops.permute(0, 2, 3, 1).to(torch.uint8).cpu().numpy()
        else:
            pixels = [np.asarray(c) for c in crops]
        features = np.stack([heuristic_features(c) for c in pixels]) if len(pixels) else None
        scores = heuristic_quality(features) if features is not None else np.zeros(0, np.float32)
        return embeddings, np.atleast_1d(scores).astype(np.float32)

    def _embed(
        self, crops: Sequence[Image.Image] | torch.Tensor, with_spread: bool = False
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """:meth:`embed_crops`, and with ``with_spread`` SER-FIQ's ``(N,)`` spreads from the
        same trunk pass (None where the embedder has no dropout to sample)."""
        if self.members:
            raise ValueError(
                f"{self.weights.name} is an ensemble: each member cuts its own crop of a face, "
                "so it embeds face regions (embed, embed_regions), not ready crops"
            )
        serfiq = with_spread and self.quality_method in SPREAD_METHODS
        if len(crops) == 0:
            empty = np.zeros((0, self.embedding_size), dtype=np.float32)
            return empty, (np.zeros(0, np.float32) if serfiq else None)
        if not isinstance(crops, torch.Tensor):
            crops = torch.from_numpy(
                np.stack([np.asarray(c, dtype=np.uint8) for c in crops])
            ).permute(0, 3, 1, 2)
        param = next(self.model.parameters())
        out, spreads = [], []
        autocast = torch.autocast(
            param.device.type, dtype=torch.bfloat16, enabled=self.precision == "bf16"
        )
        with torch.inference_mode():
            for start in range(0, len(crops), self.batch_size):
                x = crops[start : start + self.batch_size].to(param.device, param.dtype)
                x = standardize(x, self.weights.standardization)
                with autocast:
                    if serfiq:
                        pooled = self._embedder.trunk(x)
                        head = torch.nn.Sequential(
                            self._embedder.last_linear, self._embedder.last_bn
                        )
                        embeddings = head(pooled.flatten(1)).float()
                        spreads.append(serfiq_spread(pooled, head).cpu())
                    else:
                        embeddings = self._embedder(x).float()
                    if self.weights.flip_average:
                        embeddings += self._embedder(torch.flip(x, dims=[3])).float()
                # Where embeddings leave the network: a bf16 or int8 network's unit vectors
                # are off unit length by up to 3e-3, so every path normalises again in float32.
                out.append(F.normalize(embeddings, p=2, dim=1).cpu())
        return torch.cat(out).numpy(), (torch.cat(spreads).numpy() if serfiq else None)

    @property
    def attribute_analyzer(self) -> AttributeAnalyzer:
        """The age, gender and emotion networks, built on first use on this device."""
        if self._attributes is None:
            self._attributes = AttributeAnalyzer(device=self.device)
        return self._attributes

    def analyze(self, image: ImageInput) -> list[tuple[Region, FaceAttributes]]:
        """Age, gender and emotion of every recognisable face of one image, largest first.

        The attribute networks (:class:`faceprint.attributes.AttributeAnalyzer`) are built on
        the first call, on this recognizer's device.

        Returns:
            ``(region, attributes)`` per face: where it is (box, probability, landmarks) and
            what the networks say.
        """
        pil = to_pil(image)
        regions = self.detect_regions([pil])[0]
        found = self.attribute_analyzer.analyze(
            pil, [r.box for r in regions], [r.landmarks for r in regions]
        )
        return list(zip(regions, found, strict=True))

    def identify(
        self, images: ImageInput | Sequence[ImageInput], gallery: SearchableGallery, k: int = 1
    ) -> list:
        """Who is every face? Each face of each image is searched in ``gallery``.

        Args:
            images: one image or a batch.
            gallery: a :class:`faceprint.gallery.Gallery` made with this model and alignment,
                whose threshold is calibrated for this detector (opened with this recognizer).
            k: candidate identities per face.

        Returns:
            For one image, a list of ``(Face, Identification)`` (``identification.name`` is
            ``"unknown"`` beyond the gallery's threshold); for a batch, one such list per image.
            The faces of one image are named jointly, so no two get the same name.
        """
        if gallery.model != self.name:
            raise ModelMismatchError(
                f"the gallery holds {gallery.model} embeddings; this recognizer makes {self.name}"
            )
        detector = getattr(gallery, "detector", self.detector.name)
        if detector != self.detector.name:
            raise ModelMismatchError(
                f"the gallery's threshold is calibrated for {detector}'s faces; this recognizer "
                f"finds faces with {self.detector.name}: open the gallery with recognizer= "
                "this recognizer (or detector=) so that it uses the matching calibration"
            )
        batch = is_batch(images)
        per_image = self.embed(images) if batch else [self.embed(images)]
        out = []
        for faces in per_image:
            answers = (
                gallery.search(np.stack([f.embedding for f in faces]), k=k, joint=True)
                if faces
                else []
            )
            out.append(list(zip(faces, answers, strict=True)))
        return out if batch else out[0]

    def false_accept_rate(self, distance: float) -> float | None:
        """The fraction of pairs of two different people at least this close (None where the
        model records no impostor distribution); clamped to 1e-7 .. 0.56."""
        if self.impostor_distances is None:
            return None
        return far_at_distance(self.impostor_distances, distance)

    def verify(self, image_a: ImageInput, image_b: ImageInput) -> Verification:
        """Are the (largest) faces of two images the same person?

        Raises:
            NoFaceError: an image holds no detectable face.
        """
        faces = []
        for name, image in (("first", image_a), ("second", image_b)):
            found = self.embed(image)
            if not found:
                raise NoFaceError(f"no face found in the {name} image")
            faces.append(max(found, key=lambda f: float(box_area(f.box))))
        distance = float(np.linalg.norm(faces[0].embedding - faces[1].embedding))
        return Verification(
            distance,
            distance < self.threshold,
            self.threshold,
            (faces[0], faces[1]),
            self.false_accept_rate(distance),
        )
