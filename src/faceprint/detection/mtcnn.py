"""The MTCNN module: a drop-in, faster and sturdier replacement for facenet-pytorch's MTCNN."""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from faceprint.alignment import extract_face, fixed_image_standardization
from faceprint.boxes import box_area
from faceprint.detection.base import Detections, ScoreCalibration
from faceprint.detection.nets import ONet, PNet, RNet
from faceprint.detection.registry import register_detector
from faceprint.detection.stages import detect_faces
from faceprint.images import ImageInput, as_image_list, image_size, is_batch, to_rgb_array

_SHARD_PIXELS = 1_000_000
#: P-Net's window: a pyramid starting at faces smaller than this upsamples the image.
_PNET_WINDOW = 12
SELECTION_METHODS = ("probability", "largest", "largest_over_threshold", "center_weighted_size")


class MTCNN(nn.Module):
    """MTCNN face detector (Zhang et al. 2016) with facenet-pytorch's interface and answers.

    Calling the module detects faces and returns them cropped and standardized, ready for
    :class:`faceprint.InceptionResnetV1`; :meth:`detect` returns boxes, probabilities and
    landmarks instead.

    Inputs, everywhere: a file path, a PIL image (any mode; EXIF orientation is applied), an
    ``(H, W, 3)`` uint8 RGB numpy array or torch tensor (values 0..255), or a batch: a list or
    tuple of those, or a ``(B, H, W, 3)`` array/tensor. Images in a list may differ in size and
    may hold no face. Bad inputs raise :class:`faceprint.errors.ImageError` naming the problem.

    Args:
        image_size: side of the returned square face crops, in pixels. Default 160.
        margin: margin added around each box, in pixels of the *output* crop. Default 0.
        min_face_size: smallest face side searched for, in input pixels (the pyramid's first
            scale; :meth:`detect` may return smaller faces, :meth:`detect_batch` does not).
            Default 20.
        thresholds: face-probability thresholds of the P-, R- and O-Net stages, each in [0, 1].
            Default ``[0.6, 0.7, 0.7]``.
        factor: scale step of the image pyramid, in (0, 1). Default 0.709.
        post_process: standardize returned crops as ``(x - 127.5) / 128`` (values about -1..1);
            if False they hold raw 0..255 values. Saved crops are never standardized.
        select_largest: order faces by box area (True) or by probability (False). Default True.
        selection_method: overrides ``select_largest`` when choosing one face per image:
            ``"probability"``, ``"largest"``, ``"largest_over_threshold"`` (largest with
            probability > 0.9) or ``"center_weighted_size"`` (area minus twice the squared
            distance of the box centre from the image centre). Default None.
        keep_all: return every face, not only the selected one. Default False.
        device: where the networks run, e.g. ``"cuda"``. Moving the module later with
            ``.to(device)`` works too, as do ``.double()`` and, on CUDA, ``.half()``.
        backend: ``"torch"`` or ``"onnxruntime"`` (the three networks as cached ONNX exports;
            pyramid, NMS, crops and selection stay the same code).
        weights_dir: directory holding ``pnet.pt``, ``rnet.pt`` and ``onet.pt``; by default the
            weights come from the registry (user directory, cache, download).
        input_scale: for :meth:`detect_batch` only (the
            :class:`~faceprint.detection.base.Detector` interface), the factor by which images
            are resized before the cascade, above 0 and at most 4; its boxes and landmarks
            come back in the image's pixels. ``min_face_size`` stays in the image's pixels
            (the cascade looks for ``min_face_size * input_scale`` in the resized image, but,
            when shrinking, no less than 12 pixels, its window: the shrunk image is never
            enlarged again, and faces under ``12 / input_scale`` pixels are missed).
            :meth:`detect` and calling the module ignore it, as facenet-pytorch does not have
            it. Default 1.

    Speed: on CPU a batch runs as shards of up to 1 Mpixel on one worker thread per
    ``torch.get_num_threads()``, each single-threaded (set 1 thread to run it as one piece).
    An image's faces are the same whatever else is in its batch, except that the last bit of
    a coordinate can differ: torch's kernels may round a crop's scores differently among other
    crops (seen for one landmark in 400 LFW images, by 8e-6 px), and a lone image runs on the
    caller's threads, where torch may pick other convolution kernels.

    Example:
        >>> mtcnn = MTCNN(keep_all=True)
        >>> faces = mtcnn("group.jpg")                    # (N, 3, 160, 160), or None
        >>> boxes, probs, points = mtcnn.detect("group.jpg", landmarks=True)
    """

    def __init__(
        self,
        image_size: int = 160,
        margin: int = 0,
        min_face_size: int = 20,
        thresholds: Sequence[float] = [0.6, 0.7, 0.7],  # noqa: B006 - facenet-pytorch's default
        factor: float = 0.709,
        post_process: bool = True,
        select_largest: bool = True,
        selection_method: str | None = None,
        keep_all: bool = False,
        device: str | torch.device | None = None,
        weights_dir: str | os.PathLike | None = None,
        backend: str = "torch",
        input_scale: float = 1.0,
    ) -> None:
        super().__init__()
        from faceprint.models.onnx_runtime import check_backend

        check_backend(backend)
        if backend == "onnxruntime" and weights_dir is not None:
            raise ValueError("backend='onnxruntime' runs the registry weights; drop weights_dir")
        if len(thresholds) != 3 or not all(0 <= t <= 1 for t in thresholds):
            raise ValueError(
                f"thresholds must be three probabilities in [0, 1], got {thresholds!r}"
            )
        if not 0 < factor < 1:
            raise ValueError(f"factor must be in (0, 1), got {factor}")
        if min_face_size <= 0 or image_size <= 0 or not 0 <= margin < image_size:
            raise ValueError(
                "need min_face_size > 0, image_size > 0 and 0 <= margin < image_size, got "
                f"{min_face_size}, {image_size}, {margin}"
            )
        if not 0.0 < input_scale <= 4.0:
            raise ValueError(f"input_scale must be in (0, 4], got {input_scale}")
        if selection_method is not None and selection_method not in SELECTION_METHODS:
            raise ValueError(
                f"selection_method must be one of {SELECTION_METHODS}, got {selection_method!r}"
            )
        self.image_size = image_size
        self.margin = margin
        self.min_face_size = min_face_size
        self.thresholds = list(thresholds)
        self.factor = factor
        self.input_scale = input_scale
        self.post_process = post_process
        self.select_largest = select_largest
        self.keep_all = keep_all
        self.selection_method = selection_method or ("largest" if select_largest else "probability")

        def weights(stage: str) -> bool | str:
            return True if weights_dir is None else os.path.join(weights_dir, f"{stage}.pt")

        self.pnet = PNet(weights("pnet"))
        self.rnet = RNet(weights("rnet"))
        self.onet = ONet(weights("onet"))
        self.eval()
        self.to(memory_format=torch.channels_last)
        if device is not None:
            self.to(device)
        self.backend = backend
        self._runners = (self.pnet, self.rnet, self.onet)
        if backend == "onnxruntime":
            from faceprint.models.onnx_runtime import mtcnn_networks

            # Outside the module tree: the torch networks stay what state_dict() and .to() see.
            object.__setattr__(self, "_runners", mtcnn_networks())

    #: The registry name (:func:`faceprint.detection.registry.create_detector`).
    name = "mtcnn"

    @property
    def device(self) -> torch.device:
        """Device of the networks."""
        return next(self.parameters()).device

    @property
    def settings(self) -> dict:
        """Name, smallest face, input scale, the three stage thresholds and the pyramid
        factor: what its detections depend on."""
        return {
            "name": self.name,
            "min_face_size": self.min_face_size,
            "input_scale": self.input_scale,
            "thresholds": list(self.thresholds),
            "factor": self.factor,
        }

    @property
    def score_threshold(self) -> float:
        """The last (O-Net) stage's threshold: faces are returned only above it."""
        return self.thresholds[2]

    def forward(
        self,
        img: ImageInput | Sequence[ImageInput],
        save_path: str | os.PathLike | Sequence[str | os.PathLike | None] | None = None,
        return_prob: bool = False,
    ) -> Any:
        """Detect faces and return them cropped, resized and (with ``post_process``) standardized.

        Args:
            img: one image or a batch (see the class docstring).
            save_path: file to write the (unstandardized) crop to; with ``keep_all`` further
                faces go to ``name_2.ext``, ``name_3.ext``, ... For a batch, a list of paths.
            return_prob: also return the detection probabilities.

        Returns:
            For one image: a ``(3, S, S)`` float32 tensor (``(N, 3, S, S)`` with ``keep_all``),
            or None when no face is found; S is ``image_size``. Values are about -1..1 with
            ``post_process``, else 0..255. For a batch: a list with one such entry per image.
            With ``return_prob``: ``(faces, probs)``, probs being a float (an ``(N,)`` array
            with ``keep_all``) or None, per image.
        """
        batch = is_batch(img)
        images = self._load(img)
        boxes, probs, _ = self._detect_arrays(
            images, landmarks=True, order_by_size=self.select_largest
        )
        if not self.keep_all:
            boxes, probs = self._select(images, boxes, probs)
        paths = _save_paths(save_path, len(images), batch)
        faces = [
            self._extract(image, b, path)
            for image, b, path in zip(images, boxes, paths, strict=True)
        ]
        if not self.keep_all:
            probs = [None if p is None else float(p[0]) for p in probs]
        if not batch:
            faces, probs = faces[0], probs[0]
        return (faces, probs) if return_prob else faces

    def detect(self, img: ImageInput | Sequence[ImageInput], landmarks: bool = False) -> tuple:
        """Detect all faces and return boxes, probabilities and, optionally, 5 landmarks.

        Args:
            img: one image or a batch (see the class docstring).
            landmarks: also return the landmarks.

        Returns:
            For one image ``(boxes, probs)`` or ``(boxes, probs, points)``:
            boxes ``(N, 4)`` float32 as ``x1, y1, x2, y2`` in input pixels; probs ``(N,)``
            float32 in [0, 1]; points ``(N, 5, 2)`` float32 ``(x, y)`` of the left eye, right
            eye, nose, left and right mouth corner. Each is None when no face is found.
            Faces are ordered by box area (``select_largest``) or by probability.
            For a batch, each of the three is a list with one entry per image.
        """
        images = self._load(img)
        boxes, probs, points = self._detect_arrays(
            images, landmarks, order_by_size=self.select_largest
        )
        if not is_batch(img):
            boxes, probs, points = boxes[0], probs[0], points[0]
        return (boxes, probs, points) if landmarks else (boxes, probs)

    def detect_batch(self, images: Sequence[ImageInput]) -> list[Detections]:
        """Detect all faces of each image: the :class:`~faceprint.detection.base.Detector`
        interface.

        Args:
            images: a list of images (see the class docstring), of any sizes.

        Returns:
            One :class:`~faceprint.detection.base.Detections` per image: boxes ``(N, 4)``,
            probabilities ``(N,)`` (highest first) and landmarks ``(N, 5, 2)`` (left eye,
            right eye, nose, left and right mouth corner, as seen), float32 in the image's
            pixels; ``N = 0`` where there is no face. At ``input_scale=1`` these are the faces
            of :meth:`detect` whose box's shorter side is at least ``min_face_size``, sorted by
            probability.
        """
        arrays = [to_rgb_array(x, f"image {i} of the batch") for i, x in enumerate(images)]
        if not arrays:
            return []
        scaled = arrays
        if self.input_scale != 1.0:
            scaled = [_resized(a, self.input_scale) for a in arrays]
        start = self.min_face_size * self.input_scale
        if self.input_scale < 1:
            # Upsampling the shrunk image again would undo what shrinking it saves.
            start = max(start, _PNET_WINDOW)
        boxes, probs, points = self._detect_arrays(
            scaled, True, order_by_size=False, min_face_size=start
        )
        out = []
        for a, s, b, p, q in zip(arrays, scaled, boxes, probs, points, strict=True):
            if b is None:
                out.append(Detections.empty())
                continue
            factor = np.array([s.shape[1] / a.shape[1], s.shape[0] / a.shape[0]], np.float32)
            order = np.argsort(-p, kind="stable")
            found = Detections(
                np.ascontiguousarray((b[order].reshape(-1, 2, 2) / factor).reshape(-1, 4)),
                np.ascontiguousarray(p[order]),
                np.ascontiguousarray(q[order] / factor),
            )
            # The pyramid's first scale is no bound: faces well below it are found too.
            out.append(found.at_least(self.min_face_size))
        return out

    def _load(self, img: ImageInput | Sequence[ImageInput]) -> list[np.ndarray]:
        items = as_image_list(img)
        if not items:
            raise ValueError("empty batch: pass at least one image")
        if len(items) == 1:
            return [to_rgb_array(items[0])]
        return [to_rgb_array(x, f"image {i} of the batch") for i, x in enumerate(items)]

    def _detect_arrays(
        self,
        images: list[np.ndarray],
        landmarks: bool,
        order_by_size: bool,
        min_face_size: float | None = None,
    ):
        """Detect on RGB arrays: images of one size run together, in shards on CPU workers."""
        min_face_size = self.min_face_size if min_face_size is None else min_face_size
        groups: dict[tuple[int, int], list[int]] = {}
        for i, image in enumerate(images):
            groups.setdefault(image.shape[:2], []).append(i)
        param = next(self.parameters())
        shards = [
            shard
            for indices in groups.values()
            for shard in _shards(indices, images[indices[0]].shape[:2], _cpu_workers(param.device))
        ]

        def run(indices: list[int]) -> list[tuple[torch.Tensor, torch.Tensor]]:
            # Detection runs in its own precision, whatever autocast a caller (a training loop
            # with IdentityLoss) has on.
            with torch.inference_mode(), torch.autocast(param.device.type, enabled=False):
                stack = np.stack([images[i] for i in indices])
                # Channels-last (the arrays' own HWC order), which the pyramid resampling
                # reads fastest.
                tensor = (
                    torch.from_numpy(stack).to(param.device).permute(0, 3, 1, 2).to(param.dtype)
                )
                return detect_faces(
                    tensor,
                    *self._runners,
                    min_face_size,
                    self.thresholds,
                    self.factor,
                )

        results: list[tuple[torch.Tensor, torch.Tensor] | None] = [None] * len(images)
        outputs = _worker_pool().map(run, shards) if len(shards) > 1 else map(run, shards)
        for indices, found in zip(shards, outputs, strict=True):
            for i, r in zip(indices, found, strict=True):
                results[i] = r
        boxes, probs, points = [], [], []
        for box, point in results:
            box = box.float().cpu().numpy()
            point = point.float().cpu().numpy()
            if len(box) == 0:
                boxes.append(None), probs.append(None), points.append(None)
                continue
            if order_by_size:
                order = np.argsort(box_area(box))[::-1]
                box, point = box[order], point[order]
            boxes.append(np.ascontiguousarray(box[:, :4]))
            probs.append(np.ascontiguousarray(box[:, 4]))
            points.append(np.ascontiguousarray(point))
        return boxes, probs, points

    def select_boxes(
        self,
        all_boxes: list[np.ndarray | None],
        all_probs: list[np.ndarray | None],
        all_points: list[np.ndarray | None],
        imgs: ImageInput | Sequence[ImageInput],
        method: str = "probability",
        threshold: float = 0.9,
        center_weight: float = 2.0,
    ) -> tuple:
        """Keep one face per image, chosen by ``method`` (see the class docstring).

        Takes batch outputs of :meth:`detect` (``landmarks=True``) and returns, per image, a
        ``(1, 4)`` box, a float probability and ``(1, 5, 2)`` points, or None for each.
        For a single image (not a batch), the single entries are returned.
        """
        batch = is_batch(imgs)
        images = as_image_list(imgs)
        if not batch:
            all_boxes, all_probs, all_points = [all_boxes], [all_probs], [all_points]
        sizes = [image_size(x) for x in images]
        chosen = _choose_each(all_boxes, all_probs, sizes, method, threshold, center_weight)
        boxes = [None if c is None else b[[c]] for c, b in zip(chosen, all_boxes, strict=True)]
        probs = [None if c is None else float(p[c]) for c, p in zip(chosen, all_probs, strict=True)]
        points = [None if c is None else q[[c]] for c, q in zip(chosen, all_points, strict=True)]
        if not batch:
            return boxes[0], probs[0], points[0]
        return boxes, probs, points

    def _select(self, images, boxes, probs):
        sizes = [(x.shape[1], x.shape[0]) for x in images]
        chosen = _choose_each(boxes, probs, sizes, self.selection_method, 0.9, 2.0)
        return (
            [None if c is None else b[[c]] for c, b in zip(chosen, boxes, strict=True)],
            [None if c is None else p[[c]] for c, p in zip(chosen, probs, strict=True)],
        )

    def _extract(self, image: np.ndarray, boxes: np.ndarray | None, path) -> torch.Tensor | None:
        if boxes is None:
            return None
        image = Image.fromarray(image)  # once per image, not once per face
        faces = []
        for i, box in enumerate(boxes):
            face_path = path
            if path is not None and i > 0:
                stem, ext = os.path.splitext(os.fspath(path))
                face_path = f"{stem}_{i + 1}{ext}"
            face = extract_face(image, box, self.image_size, self.margin, face_path)
            faces.append(fixed_image_standardization(face) if self.post_process else face)
        return torch.stack(faces) if self.keep_all else faces[0]


def _resized(image: np.ndarray, scale: float) -> np.ndarray:
    """``image`` resized by ``scale`` (bilinear, antialiased when shrinking), at least 12x12."""
    h, w = image.shape[:2]
    size = (max(12, round(w * scale)), max(12, round(h * scale)))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BILINEAR))


def select_face(
    boxes: np.ndarray | None,
    probs: np.ndarray | None,
    size: tuple[int, int],
    method: str = "center_weighted_size",
    threshold: float = 0.9,
    center_weight: float = 2.0,
) -> int | None:
    """Index of the face that ``method`` selects among one image's detections, or None.

    Args:
        boxes: ``(N, 4)`` boxes, or None.
        probs: ``(N,)`` probabilities.
        size: ``(width, height)`` of the image.
        method: one of :data:`SELECTION_METHODS` (see :class:`MTCNN`).
        threshold: probability floor of ``largest_over_threshold``.
        center_weight: weight of the squared centre offset in ``center_weighted_size``.
    """
    if boxes is None or len(boxes) == 0:
        return None
    area = box_area(boxes)
    if method == "largest":
        return int(np.argsort(area)[::-1][0])
    if method == "probability":
        return int(np.argsort(probs)[::-1][0])
    if method == "largest_over_threshold":
        candidates = np.flatnonzero(probs > threshold)
        if len(candidates) == 0:
            return None
        return int(candidates[np.argsort(area[candidates])[::-1][0]])
    if method == "center_weighted_size":
        centers = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], 1)
        offset = np.sum((centers - np.array(size) / 2) ** 2, axis=1)
        return int(np.argsort(area - offset * center_weight)[::-1][0])
    raise ValueError(f"selection method must be one of {SELECTION_METHODS}, got {method!r}")


def _choose_each(all_boxes, all_probs, sizes, method, threshold, center_weight) -> list[int | None]:
    """:func:`select_face` for every image of a batch."""
    return [
        select_face(b, p, size, method, threshold, center_weight)
        for b, p, size in zip(all_boxes, all_probs, sizes, strict=True)
    ]


def _save_paths(save_path, count: int, batch: bool) -> list:
    if save_path is None:
        return [None] * count
    if isinstance(save_path, (str, os.PathLike)):
        if batch and count > 1:
            raise ValueError(
                "for a batch, save_path must be a list with one path (or None) per image"
            )
        return [save_path] * count
    paths = list(save_path)
    if len(paths) != count:
        raise ValueError(f"save_path has {len(paths)} entries for {count} images")
    return paths


def _cpu_workers(device: torch.device) -> int:
    """Worker threads for a batch: one per intra-op thread on CPU, if thread counts are per
    thread."""
    if device.type != "cpu" or not _per_thread_thread_counts():
        return 1
    return torch.get_num_threads()


@functools.cache
def _per_thread_thread_counts() -> bool:
    # Under other ATen backends torch.set_num_threads is process-wide; workers must not change it.
    return "ATen parallel backend: OpenMP" in torch.__config__.parallel_info()


def _shards(indices: list[int], size: tuple[int, int], workers: int) -> list[list[int]]:
    """Split a same-size group into contiguous shards of about ``_SHARD_PIXELS`` each.

    Small shards keep each worker's pyramid in cache and balance the workers; at least one
    shard per worker keeps them all busy.
    """
    if workers == 1:
        return [indices]
    per_shard = max(1, min(_SHARD_PIXELS // (size[0] * size[1]), -(-len(indices) // workers)))
    return [indices[i : i + per_shard] for i in range(0, len(indices), per_shard)]


@functools.cache
def _worker_pool_for(workers: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(
        workers,
        thread_name_prefix="faceprint-mtcnn",
        initializer=torch.set_num_threads,
        initargs=(1,),
    )


# A forked child inherits the cached pool but not its threads; it must start its own.
if hasattr(os, "register_at_fork"):  # POSIX only
    os.register_at_fork(after_in_child=_worker_pool_for.cache_clear)


def _worker_pool() -> ThreadPoolExecutor:
    """Threads that each run whole images single-threaded.

    On CPU the cascade spends much of its time in per-box work (crops, small R-/O-Net calls,
    NMS) that one op cannot spread over cores; running shards of a batch side by side, each
    on one core, keeps every core busy (figures in the README's speed section).
    ``torch.set_num_threads`` is per thread under OpenMP, so the caller's setting is untouched.
    """
    return _worker_pool_for(torch.get_num_threads())


#: MTCNN's constructor defaults (facenet-pytorch's), for callers that expose them as options.
MTCNN_DEFAULTS: dict[str, Any] = {
    name: p.default
    for name, p in inspect.signature(MTCNN.__init__).parameters.items()
    if p.default is not p.empty
}


_CALIBRATION_SOURCE = (
    "LFW: the central faces of 400 images (every 33rd of the sorted list) that MTCNN and "
    "CenterFace both find at their defaults, scripts/calibrate_detector_scores.py"
)
#: MTCNN's probabilities on the common scale of fused detectors: knots of the share of LFW's
#: central faces scored at or below each probability (``scripts/calibrate_detector_scores.py``).
#: Nearly every face scores above 0.999: the knots spread that last thousandth out.
MTCNN_CALIBRATION = ScoreCalibration(
    raw=(0.0, 0.996809, 0.998714, 0.999401, 0.999824, 0.999967, 0.999995, 0.999999, 1.0),
    common=(0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0),
    source=_CALIBRATION_SOURCE,
)


@register_detector("mtcnn", calibration=MTCNN_CALIBRATION)
def mtcnn_detector(
    min_face_size: float = 20,
    input_scale: float = 1.0,
    score_threshold: float | None = None,
    **options: Any,
) -> MTCNN:
    """:class:`MTCNN` as a :class:`~faceprint.detection.base.Detector` (every face kept).

    Args:
        min_face_size: the smallest face side returned (and the pyramid's start), in the
            image's pixels.
        input_scale: resize factor before the cascade, in (0, 4].
        score_threshold: the last stage's probability threshold (default 0.7, facenet-pytorch's
            ``thresholds[2]``); give this or ``thresholds``, not both.
        options: any other :class:`MTCNN` argument (``factor``, ``device``, ``backend``, ...).
    """
    if score_threshold is not None:
        if "thresholds" in options:
            raise ValueError("give score_threshold or thresholds, not both")
        options["thresholds"] = [*MTCNN_DEFAULTS["thresholds"][:2], score_threshold]
    options.setdefault("keep_all", True)
    return MTCNN(min_face_size=min_face_size, input_scale=input_scale, **options)
