"""The MTCNN cascade: image pyramid -> P-Net proposals -> R-Net refinement -> O-Net output.

Numerically this follows facenet-pytorch 2.6.0 step for step (same resampling, same NMS order,
same box arithmetic), so that faceprint's detections are the same detections.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torchvision  # noqa: F401  (registers torch.ops.torchvision.nms)
from torch.nn.functional import adaptive_avg_pool2d, embedding_bag, interpolate

from faceprint.detection.nets import ONet, PNet, RNet

_STANDARDIZE_MEAN = 127.5
_STANDARDIZE_SCALE = 0.0078125
_PNET_CELL = 12
_PNET_STRIDE = 2
_CHUNK = 512
_MIN_PIXELS_FOR_BAGS = 2**12


def pyramid_scales(height: int, width: int, min_face_size: float, factor: float) -> list[float]:
    """Scales at which P-Net's 12 px window covers faces from ``min_face_size`` up to the image."""
    scale = _PNET_CELL / min_face_size
    side = min(height, width) * scale
    scales = []
    while side >= _PNET_CELL:
        scales.append(scale)
        scale *= factor
        side *= factor
    return scales


def detect_faces(
    images: torch.Tensor,
    pnet: PNet,
    rnet: RNet,
    onet: ONet,
    min_face_size: float = 20,
    thresholds: Sequence[float] = (0.6, 0.7, 0.7),
    factor: float = 0.709,
) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Run the cascade on a batch of equally sized images.

    Args:
        images: ``(B, 3, H, W)`` RGB, values 0..255, in the networks' dtype and device.
        pnet, rnet, onet: the three stages.
        min_face_size: smallest face side to search for, in pixels.
        thresholds: face-probability thresholds of the three stages, each in [0, 1].
        factor: pyramid scale step, in (0, 1).

    Returns:
        One ``(boxes, landmarks)`` pair per image: boxes ``(N, 5)`` as
        ``x1, y1, x2, y2, probability`` in pixels, landmarks ``(N, 5, 2)`` as ``(x, y)`` for
        the eyes, the nose and the mouth corners.
    """
    batch = images.shape[0]
    boxes, image_inds = _propose(images, pnet, min_face_size, thresholds[0], factor)
    resample = BoxResampler(images)
    if len(boxes):
        boxes, image_inds = _refine(resample, boxes, image_inds, rnet, thresholds[1])
    points = images.new_zeros((0, 5, 2))
    if len(boxes):
        boxes, image_inds, points = _output(resample, boxes, image_inds, onet, thresholds[2])
    return [(boxes[image_inds == b], points[image_inds == b]) for b in range(batch)]


def _propose(images, pnet, min_face_size, threshold, factor):
    _, _, height, width = images.shape
    boxes, image_inds = [], []
    resize = area_resizer(images)
    for scale in pyramid_scales(height, width, min_face_size, factor):
        size = (int(height * scale + 1), int(width * scale + 1))
        scaled = _standardize_(resize(size))
        # oneDNN's convolutions run about twice as fast on channels-last tensors.
        reg, probs = pnet(scaled.contiguous(memory_format=torch.channels_last))
        boxes_s, inds_s = _grid_boxes(reg, probs[:, 1], scale, threshold)
        pick = grid_nms(boxes_s[:, :4], boxes_s[:, 4], inds_s, 0.5)
        boxes.append(boxes_s[pick])
        image_inds.append(inds_s[pick])
    if not boxes:
        return images.new_zeros((0, 9)), torch.zeros(0, dtype=torch.long, device=images.device)
    boxes, image_inds = torch.cat(boxes), torch.cat(image_inds)
    pick = grid_nms(boxes[:, :4], boxes[:, 4], image_inds, 0.7)
    boxes, image_inds = boxes[pick], image_inds[pick]
    regw = boxes[:, 2] - boxes[:, 0]
    regh = boxes[:, 3] - boxes[:, 1]
    size = torch.stack([regw, regh, regw, regh], dim=1)
    corrected = boxes[:, :4] + boxes[:, 5:9] * size
    return _square(torch.cat([corrected, boxes[:, 4:5]], dim=1)), image_inds


def area_resizer(images: torch.Tensor) -> Callable[[tuple[int, int]], torch.Tensor]:
    """A function ``size -> interpolate(images, size, mode="area")``, faster on CPU, same bits.

    Args:
        images: ``(B, C, H, W)`` integer-valued (e.g. 0..255) float32 or float64, fastest in
            channels-last memory.

    Returns:
        A function of ``(height, width)`` returning ``(B, C, height, width)`` area averages.

    Area interpolation is torch's adaptive average pooling: each output pixel averages an
    integer-aligned bin of about ``H / height`` x ``W / width`` pixels, as ``sum / kh / kw``.
    Summing the bins separably (rows, then columns) with ``embedding_bag`` reads the image
    once per level instead of once per output pixel's bin, 2.5x faster on CPU, and returns
    channels-last tensors, as P-Net wants them. Sums of
    integer pixel values are exact in float32 (below 2**24, i.e. bins under 256 x 256
    pixels), so the averages equal torch's bit for bit. Elsewhere (other dtypes, CUDA, where
    the pooling kernel is fast, small images) this is ``interpolate`` itself.
    """
    batch, channels, height, width = images.shape
    if (
        images.device.type != "cpu"
        or images.dtype not in (torch.float32, torch.float64)
        # Below this size the bags' index setup costs more than it saves.
        or batch * height * width < _MIN_PIXELS_FOR_BAGS
    ):
        return lambda size: interpolate(images, size=size, mode="area")
    # Rows of the batch stacked as one table of (W * C)-long rows; a view for channels-last input.
    table = images.permute(0, 2, 3, 1).reshape(batch * height, width * channels)

    def resize(size: tuple[int, int]) -> torch.Tensor:
        out_h, out_w = size
        row_bags, row_offsets, bin_h = _bins(height, out_h, batch)
        rows = embedding_bag(row_bags, table, row_offsets, mode="sum")
        # Then each of the batch * out_h rows' pixels (C values each) in bins of columns: the
        # sums come out (B, out_h, out_w, C), channels-last with no transposing.
        col_bags, col_offsets, bin_w = _bins(width, out_w, batch * out_h)
        sums = embedding_bag(col_bags, rows.view(-1, channels), col_offsets, mode="sum")
        sums = sums.view(batch, out_h, out_w, channels)
        sums.div_(bin_h.to(images.dtype)[:, None, None]).div_(bin_w.to(images.dtype)[:, None])
        return sums.permute(0, 3, 1, 2)

    return resize


def _bins(length: int, out: int, runs: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Adaptive pooling's bins over ``runs`` stacked runs of ``length`` rows, as embedding bags.

    Returns the int32 row indices of every bag, each bag's offset into them, and the ``(out,)``
    bin sizes.
    """
    key = (length, out, runs)
    with _BINS_LOCK:
        if (found := _BINS_CACHE.get(key)) is not None:
            _BINS_CACHE.move_to_end(key)
            return found
    start, end = (bound[0] for bound in _adaptive_bins(torch.tensor([0]), torch.tensor([length]), out))
    size = end - start
    offsets = torch.cat([size.new_zeros(1), size.cumsum(0)[:-1]])
    members = torch.repeat_interleave(start - offsets, size) + torch.arange(int(size.sum()))
    run = torch.arange(runs)[:, None]
    bins = (
        (members + length * run).reshape(-1).int(),
        (offsets + int(size.sum()) * run).reshape(-1).int(),
        size,
    )
    with _BINS_LOCK:
        if key not in _BINS_CACHE and len(bins[0]) <= _BINS_CACHE_ELEMENTS:
            _BINS_CACHE[key] = bins
            while sum(len(b[0]) for b in _BINS_CACHE.values()) > _BINS_CACHE_ELEMENTS:
                _BINS_CACHE.popitem(last=False)
    return bins


# Building the bags' indices costs more than the pooling itself for batches of small images,
# and a stream of same-size batches needs the same ones, so recent ones are kept, up to a total
# size (functools.lru_cache bounds the number of entries, not their size).
_BINS_CACHE: OrderedDict[tuple[int, int, int], tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = OrderedDict()
_BINS_CACHE_ELEMENTS = 16_000_000  # int32 indices: 64 MB
_BINS_LOCK = threading.Lock()


def _refine(resample, boxes, image_inds, rnet, threshold):
    crops, boxes, image_inds = _crops(resample, boxes, image_inds, 24)
    reg, probs = _chunked(rnet, crops)
    score = probs[:, 1]
    keep = score > threshold
    boxes = torch.cat([boxes[keep, :4], score[keep, None]], dim=1)
    image_inds, reg = image_inds[keep], reg[keep]
    pick = batched_nms(boxes[:, :4], boxes[:, 4], image_inds, 0.7)
    boxes = _regress(boxes[pick], reg[pick])
    return _square(boxes), image_inds[pick]


def _output(resample, boxes, image_inds, onet, threshold):
    crops, boxes, image_inds = _crops(resample, boxes, image_inds, 48)
    reg, marks, probs = _chunked(onet, crops)
    score = probs[:, 1]
    keep = score > threshold
    boxes = torch.cat([boxes[keep, :4], score[keep, None]], dim=1)
    image_inds, reg, marks = image_inds[keep], reg[keep], marks[keep]
    w = (boxes[:, 2] - boxes[:, 0] + 1)[:, None]
    h = (boxes[:, 3] - boxes[:, 1] + 1)[:, None]
    points_x = w * marks[:, :5] + boxes[:, 0:1] - 1
    points_y = h * marks[:, 5:] + boxes[:, 1:2] - 1
    points = torch.stack([points_x, points_y], dim=2)
    boxes = _regress(boxes, reg)
    pick = batched_nms_min(boxes[:, :4], boxes[:, 4], image_inds, 0.7)
    return boxes[pick], image_inds[pick], points[pick]


def batched_nms(boxes: torch.Tensor, scores: torch.Tensor, idxs: torch.Tensor, threshold: float) -> torch.Tensor:
    """IoU NMS within each image; kept indices grouped by image, strongest first.

    torchvision's ``batched_nms`` shifts each image's boxes by ``index * max_coordinate``, and in
    float32 that shift perturbs overlaps enough to change results with the batch's make-up.
    Running each image on its own keeps a face's detection independent of its batch-mates.
    """
    return _per_image(_nms_iou, boxes, scores, idxs, threshold)


def _nms_iou(boxes: torch.Tensor, scores: torch.Tensor, threshold: float) -> torch.Tensor:
    """torchvision's ``batched_nms`` for boxes of one image, without its per-call Python work.

    Above 1000 boxes (CPU) torchvision takes its per-class path, which lists the kept boxes in
    index order and re-sorts them by score; that order decides ties downstream, so it is kept.
    """
    keep = torch.ops.torchvision.nms(boxes, scores, threshold)
    if _per_class_path(len(boxes), boxes.device):
        keep = keep.sort().values
        keep = keep[scores[keep].sort(descending=True)[1]]
    return keep


def _per_class_path(count: int, device: torch.device) -> bool:
    """Whether torchvision's ``batched_nms`` takes its per-class path for ``count`` boxes."""
    return count * 4 > (4000 if device.type == "cpu" else 100_000)


def grid_nms(boxes: torch.Tensor, scores: torch.Tensor, idxs: torch.Tensor, threshold: float) -> torch.Tensor:
    """:func:`batched_nms` for boxes with whole-number coordinates, such as P-Net's grid cells,
    in one NMS call for all images.

    Each image's boxes are shifted by ``index * (max coordinate + 1)``: for whole numbers below
    2**24 that shift is exact in float32, so every overlap is computed bit for bit as for the
    image alone, and boxes of different images never overlap. Falls back to one call per image
    where that does not hold or where torchvision would take its per-class path.
    """
    if len(idxs) == 0:
        return idxs.new_zeros(0)
    counts = torch.bincount(idxs)
    span = float(boxes.max()) + 1
    if (
        boxes.dtype not in (torch.float32, torch.float64)
        or float(boxes.min()) < 0
        or span * len(counts) >= 2**24
        or _per_class_path(int(counts.max()), boxes.device)
    ):
        return batched_nms(boxes, scores, idxs, threshold)
    shifted = boxes + (idxs.to(boxes.dtype) * span)[:, None]
    keep = torch.ops.torchvision.nms(shifted, scores, threshold)
    # NMS lists the kept boxes by score; a stable sort by image gives batched_nms's order.
    return keep[torch.argsort(idxs[keep], stable=True)]


def _per_image(nms, boxes, scores, idxs, threshold) -> torch.Tensor:
    """``nms(boxes, scores, threshold)`` on each image's boxes alone, in image order."""
    if len(idxs) == 0:
        return idxs.new_zeros(0)
    # A stable sort keeps each image's boxes in their given order, which decides score ties.
    order = torch.argsort(idxs, stable=True)
    boxes, scores = boxes[order], scores[order]
    keep, start = [], 0
    for count in torch.bincount(idxs).tolist():
        if count:
            end = start + count
            keep.append(nms(boxes[start:end], scores[start:end], threshold).add_(start))
            start = end
    return order[torch.cat(keep)]


def _standardize_(x: torch.Tensor) -> torch.Tensor:
    """``(x - 127.5) / 128`` in place, on a tensor made for the purpose."""
    return x.sub_(_STANDARDIZE_MEAN).mul_(_STANDARDIZE_SCALE)


def _grid_boxes(reg, probs, scale, threshold):
    """Boxes, in image pixels, of the P-Net grid cells whose face probability passes."""
    mask = probs >= threshold
    cells = mask.nonzero()
    image_inds = cells[:, 0]
    score = probs[mask]
    reg = reg.permute(1, 0, 2, 3)[:, mask].permute(1, 0)
    yx = cells[:, 1:].to(reg.dtype).flip(1)
    top_left = ((_PNET_STRIDE * yx + 1) / scale).floor()
    bottom_right = ((_PNET_STRIDE * yx + _PNET_CELL) / scale).floor()
    return torch.cat([top_left, bottom_right, score[:, None], reg], dim=1), image_inds


def _regress(boxes: torch.Tensor, reg: torch.Tensor) -> torch.Tensor:
    w = boxes[:, 2] - boxes[:, 0] + 1
    h = boxes[:, 3] - boxes[:, 1] + 1
    size = torch.stack([w, h, w, h], dim=1)
    return torch.cat([boxes[:, :4] + reg * size, boxes[:, 4:]], dim=1)


def _square(boxes: torch.Tensor) -> torch.Tensor:
    """Grow each box to a square around its centre (MTCNN's ``rerec``)."""
    h = boxes[:, 3] - boxes[:, 1]
    w = boxes[:, 2] - boxes[:, 0]
    side = torch.maximum(w, h)
    x1 = boxes[:, 0] + w * 0.5 - side * 0.5
    y1 = boxes[:, 1] + h * 0.5 - side * 0.5
    return torch.stack([x1, y1, x1 + side, y1 + side, *boxes[:, 4:].unbind(1)], dim=1)


def _crops(resample, boxes, image_inds, size):
    """Resample each box's pixels to ``size`` x ``size`` with area interpolation, standardized.

    Boxes are truncated to integers and clipped to the image with MTCNN's 1-based convention;
    boxes that end up empty are dropped (with their rows) so crops and boxes stay aligned.
    """
    height, width = resample.image_size
    corners = boxes[:, :4].trunc().long()
    x1 = corners[:, 0].clamp(min=1) - 1
    y1 = corners[:, 1].clamp(min=1) - 1
    x2 = corners[:, 2].clamp(max=width)
    y2 = corners[:, 3].clamp(max=height)
    valid = (y2 > y1) & (x2 > x1)
    if not bool(valid.all()):
        boxes, image_inds = boxes[valid], image_inds[valid]
        x1, y1, x2, y2 = x1[valid], y1[valid], x2[valid], y2[valid]
    if len(boxes) == 0:
        return boxes.new_zeros((0, 3, size, size)), boxes, image_inds
    crops = resample(image_inds, torch.stack([x1, y1, x2, y2], dim=1), size)
    return _standardize_(crops).contiguous(memory_format=torch.channels_last), boxes, image_inds


class BoxResampler:
    """``resample(image_inds, corners, size)``: each box of the images resampled to ``size`` x
    ``size`` as ``adaptive_avg_pool2d`` (``interpolate(mode="area")``) does it, bit for bit.

    Args:
        images: ``(B, C, H, W)`` integer-valued (0..255) pixels.

    Calling it with ``image_inds`` ``(N,)``, ``corners`` ``(N, 4)`` as integer ``x1, y1, x2, y2``
    (0-based, ``x2``/``y2`` exclusive, non-empty) and ``size`` returns ``(N, C, size, size)``.

    Small images (up to 256 x 256 pixels, such as LFW's) use a summed-area table: each output
    pixel's bin sum is four lookups, all boxes in one gather, then ``sum / kh / kw`` as torch's
    kernel divides. Their integer pixel sums are exact in float32, so the averages equal
    torch's. On CPU that is 2.4x faster than a pooling call per box (a 16-image LFW shard: 14
    ms against 34, building the table included), and a few large operations instead of one
    per box, so worker threads hand Python's lock over less. Larger images would need a
    float64 table, which measured slower than the pooling calls on 540p to 1080p frames; they,
    and other dtypes, get one pooling call per box from a planar copy of the images (twice as
    fast per box as channels-last).
    """

    def __init__(self, images: torch.Tensor) -> None:
        self.images = images
        self.image_size = tuple(images.shape[2:])
        height, width = self.image_size
        self.uses_table = images.dtype in (torch.float32, torch.float64) and 255 * height * width < 2**24
        self._source: torch.Tensor | None = None  # the table, or the planar images

    def __call__(self, image_inds: torch.Tensor, corners: torch.Tensor, size: int) -> torch.Tensor:
        if self._source is None:
            self._source = self._summed_area_table() if self.uses_table else self.images.contiguous()
        if not self.uses_table:
            return torch.cat([
                adaptive_avg_pool2d(self._source[b : b + 1, :, top:bottom, left:right], size)
                for b, left, top, right, bottom in zip(image_inds.tolist(), *corners.T.tolist())
            ])
        table = self._source
        rows, cols, channels = table.shape[1:]
        x1, y1, x2, y2 = corners.to(torch.int32 if table.numel() < 2**31 else torch.int64).unbind(1)
        (xs, xe), (ys, ye) = _adaptive_bins(x1, x2, size), _adaptive_bins(y1, y2, size)
        first_row = (image_inds.to(x1.dtype) * (rows * cols))[:, None, None]
        # Corners (bottom-right, top-right, bottom-left, top-left) of every bin, as rows of the
        # table: bags of 4 with signs + - - +, laid out (N, size, size, 4) in one broadcast add.
        row_ends = torch.stack([ye, ys, ye, ys], dim=2).mul_(cols).add_(first_row)
        col_ends = torch.stack([xe, xe, xs, xs], dim=2)
        bags = (row_ends[:, :, None, :] + col_ends[:, None, :, :]).view(-1, 4)
        signs = _SIGNS.to(table).expand(bags.shape)
        sums = embedding_bag(bags, table.view(-1, channels), mode="sum", per_sample_weights=signs)
        sums = sums.view(len(corners), size, size * channels)
        sums.div_((ye - ys).to(sums.dtype)[:, :, None])
        sums.div_((xe - xs).to(sums.dtype).repeat_interleave(channels, dim=1)[:, None, :])
        return sums.view(-1, size, size, channels).permute(0, 3, 1, 2)

    def _summed_area_table(self) -> torch.Tensor:
        """``(B, H + 1, W + 1, C)``: entry ``[b, y, x]`` sums image b's pixels above and left."""
        batch, channels, height, width = self.images.shape
        table = self.images.new_zeros((batch, height + 1, width + 1, channels))
        inner = table[:, 1:, 1:]
        torch.cumsum(self.images.permute(0, 2, 3, 1), 1, out=inner)
        torch.cumsum(inner, 2, out=inner)
        return table


_SIGNS = torch.tensor([1.0, -1.0, -1.0, 1.0])


def _adaptive_bins(start: torch.Tensor, end: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Adaptive pooling's ``size`` bins over each span ``[start, end)``: ``(N, size)`` first and
    one-past-last positions, as torch's ``start_index``/``end_index``."""
    i = torch.arange(size, dtype=start.dtype, device=start.device)
    length = (end - start)[:, None]
    return start[:, None] + i * length // size, start[:, None] + ((i + 1) * length + size - 1) // size


def _chunked(net: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Run ``net`` on ``x`` in chunks: on CPU of ``net.cpu_batch`` crops, whose activations stay
    in cache (3x faster for O-Net than 256 at a time); elsewhere of 512, so thousands of
    candidates don't exhaust GPU memory. torch can round a crop's answer differently (in the
    last bit) in a chunk of other crops."""
    if len(x) == 0:
        dummy = net(x.new_zeros((1, *x.shape[1:])))
        return tuple(t[:0] for t in dummy)
    chunk = net.cpu_batch if x.device.type == "cpu" else _CHUNK
    outs = [net(x[i : i + chunk]) for i in range(0, len(x), chunk)]
    return tuple(torch.cat(parts) for parts in zip(*outs))


def batched_nms_min(
    boxes: torch.Tensor, scores: torch.Tensor, idxs: torch.Tensor, threshold: float
) -> torch.Tensor:
    """Greedy NMS that divides the intersection by the *smaller* box area, per image.

    Written here because ``torchvision.ops.nms`` only implements intersection-over-union, and
    MTCNN's last stage suppresses boxes nested inside a stronger one this way.

    Args:
        boxes: ``(N, 4)`` as ``x1, y1, x2, y2`` with MTCNN's inclusive (+1) pixel areas.
        scores: ``(N,)``.
        idxs: ``(N,)`` image index of each box; boxes of different images never suppress.
        threshold: overlap above which the weaker box is dropped, in [0, 1].

    Returns:
        Indices of kept boxes, strongest first, ``(K,)`` int64.
    """
    return _per_image(_nms_min, boxes, scores, idxs, threshold)


def _nms_min(boxes: torch.Tensor, scores: torch.Tensor, threshold: float) -> torch.Tensor:
    if boxes.numel() == 0:
        return torch.empty((0,), dtype=torch.long, device=boxes.device)
    x1, y1, x2, y2 = boxes.cpu().numpy().T
    area = (x2 - x1 + 1) * (y2 - y1 + 1)
    # numpy's argsort, walked from the end, breaks ties between equal scores (common at
    # p = 0.99999...) exactly as the reference implementation does.
    order = np.argsort(scores.cpu().numpy())
    keep = []
    while order.size:
        i, rest = order[-1], order[:-1]
        keep.append(i)
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]) + 1)
        overlap = w * h / np.minimum(area[i], area[rest])
        order = rest[overlap <= threshold]
    return torch.as_tensor(np.array(keep, dtype=np.int64), device=boxes.device)
