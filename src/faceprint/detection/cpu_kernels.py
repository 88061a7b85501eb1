"""CPU fast paths of the MTCNN cascade, each pinned bit for bit to the torch op it replaces.

The cascade (:mod:`faceprint.detection.stages`, :mod:`faceprint.detection.nets`) is written
with plain torch operations. On CPU, in inference, these kernels stand in for some of them and
return the same values:

- :func:`area_resizer`: the pyramid's ``interpolate(mode="area")``, as separable bin sums;
- :func:`summed_area_resampler`: ``adaptive_avg_pool2d`` of every candidate box, as four
  lookups per output pixel in a summed-area table;
- :func:`grid_nms`: per-image NMS of P-Net's grid boxes in one call for the whole batch;
- :class:`CeilMaxPool2d` and :class:`PixelRowPReLU`: pooling and PReLU layers on faster paths;
- :func:`pnet_strips`: P-Net over strips of rows that stay in cache;
- :func:`crops_per_call`: R-Net and O-Net batches sized for a core's cache.

One switch turns them all off: ``FACEPRINT_CPU_KERNELS=0`` in the environment, or
:func:`set_enabled`. Where a kernel does not apply (another device, autograd, a dtype or size
it is not exact for) it returns None or defers to torch, and the cascade runs the torch op.
``tests/detection/test_cpu_kernels.py`` compares each with its torch op; measured speed-ups
are in the README and ``benchmarks/``.
"""

from __future__ import annotations

import math
import os
import threading
from collections import OrderedDict
from collections.abc import Callable

import torch
from torch import nn
from torch.nn.functional import embedding_bag

from faceprint.detection.nms import batched_nms, per_class_path

_enabled = os.environ.get("FACEPRINT_CPU_KERNELS", "1").strip().lower() not in {"0", "false", "no"}


def enabled() -> bool:
    """Whether the CPU kernels are switched on (the default)."""
    return _enabled


def set_enabled(flag: bool) -> bool:
    """Switch every CPU kernel on or off for the whole process; returns the previous setting."""
    global _enabled
    previous, _enabled = _enabled, bool(flag)
    return previous


def applies(x: torch.Tensor) -> bool:
    """Whether the kernels may run on ``x``: switched on, a CPU tensor, no autograd."""
    return _enabled and x.device.type == "cpu" and not torch.is_grad_enabled()


# -- the image pyramid --------------------------------------------------------------------------

# Below this many pixels a batch's bag indices cost more to build than the sums save.
_MIN_PIXELS_FOR_BAGS = 2**12


def area_resizer(images: torch.Tensor) -> Callable[[tuple[int, int]], torch.Tensor] | None:
    """A function ``size -> interpolate(images, size, mode="area")`` with the same bits, or None.

    Args:
        images: ``(B, C, H, W)`` integer-valued (e.g. 0..255) float32 or float64, fastest in
            channels-last memory.

    Returns:
        A function of ``(height, width)`` returning ``(B, C, height, width)`` area averages in
        channels-last memory, or None where it does not apply (switched off, not CPU, other
        dtypes, small images).

    Area interpolation is adaptive average pooling: each output pixel averages an
    integer-aligned bin, as ``sum / kh / kw``. Summing the bins separably (rows, then columns)
    with ``embedding_bag`` reads the image once per level instead of once per output pixel's
    bin. Sums of integer pixel values are exact in float32 (below 2**24, i.e. bins under
    256 x 256 pixels), so the averages equal torch's bit for bit.
    """
    batch, channels, height, width = images.shape
    if (
        not applies(images)
        or images.dtype not in (torch.float32, torch.float64)
        or batch * height * width < _MIN_PIXELS_FOR_BAGS
    ):
        return None
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
    start, end = (
        bound[0] for bound in adaptive_bins(torch.tensor([0]), torch.tensor([length]), out)
    )
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
_BINS_CACHE: OrderedDict[tuple[int, int, int], tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = (
    OrderedDict()
)
_BINS_CACHE_ELEMENTS = 16_000_000  # int32 indices: 64 MB
_BINS_LOCK = threading.Lock()


def adaptive_bins(
    start: torch.Tensor, end: torch.Tensor, size: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Adaptive pooling's ``size`` bins over each span ``[start, end)``: ``(N, size)`` first and
    one-past-last positions, as torch's ``start_index``/``end_index``."""
    i = torch.arange(size, dtype=start.dtype, device=start.device)
    length = (end - start)[:, None]
    return start[:, None] + i * length // size, start[:, None] + (
        (i + 1) * length + size - 1
    ) // size


# -- candidate crops ----------------------------------------------------------------------------


class SummedAreaResampler:
    """``resample(image_inds, corners, size)``: every box resampled as ``adaptive_avg_pool2d``
    does it, bit for bit, from a summed-area table of the images.

    Each output pixel's bin sum is four lookups in the table, all boxes in one ``embedding_bag``
    gather, then ``sum / kh / kw`` as torch's kernel divides. Integer pixel sums are exact in
    float32 while ``255 * H * W < 2**24`` (images up to 256 x 256 pixels, such as LFW's).

    Args:
        images: ``(B, C, H, W)`` integer-valued (0..255) float32 or float64 pixels.
    """

    def __init__(self, images: torch.Tensor) -> None:
        self.images = images
        self._table: torch.Tensor | None = None

    def __call__(self, image_inds: torch.Tensor, corners: torch.Tensor, size: int) -> torch.Tensor:
        """``(N, C, size, size)`` crops of ``corners`` ``(N, 4)`` (integer ``x1, y1, x2, y2``,
        0-based, ``x2``/``y2`` exclusive, non-empty) in images ``image_inds`` ``(N,)``."""
        if self._table is None:
            self._table = self._summed_area_table()
        table = self._table
        rows, cols, channels = table.shape[1:]
        x1, y1, x2, y2 = corners.to(torch.int32 if table.numel() < 2**31 else torch.int64).unbind(1)
        (xs, xe), (ys, ye) = adaptive_bins(x1, x2, size), adaptive_bins(y1, y2, size)
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


def summed_area_resampler(images: torch.Tensor) -> SummedAreaResampler | None:
    """A :class:`SummedAreaResampler` of ``images`` where its sums are exact, else None.

    Larger images would need a float64 table, which is slower than one pooling call per box.
    """
    height, width = images.shape[2:]
    if not (
        applies(images)
        and images.dtype in (torch.float32, torch.float64)
        and 255 * height * width < 2**24
    ):
        return None
    return SummedAreaResampler(images)


# -- NMS of P-Net's grid boxes ------------------------------------------------------------------


def grid_nms(
    boxes: torch.Tensor, scores: torch.Tensor, idxs: torch.Tensor, threshold: float
) -> torch.Tensor:
    """:func:`~faceprint.detection.nms.batched_nms` for boxes with whole-number coordinates,
    such as P-Net's grid cells, in one NMS call for all images.

    Each image's boxes are shifted by ``index * (max coordinate + 1)``: for whole numbers below
    2**24 that shift is exact in float32, so every overlap is computed bit for bit as for the
    image alone, and boxes of different images never overlap. Falls back to one call per image
    where that does not hold, where torchvision would take its per-class path, or where the
    kernels are switched off.
    """
    if len(idxs) == 0:
        return idxs.new_zeros(0)
    counts = torch.bincount(idxs)
    span = float(boxes.max()) + 1
    if (
        not applies(boxes)
        or boxes.dtype not in (torch.float32, torch.float64)
        or float(boxes.min()) < 0
        or span * len(counts) >= 2**24
        or per_class_path(int(counts.max()), boxes.device)
    ):
        return batched_nms(boxes, scores, idxs, threshold)
    shifted = boxes + (idxs.to(boxes.dtype) * span)[:, None]
    keep = torch.ops.torchvision.nms(shifted, scores, threshold)
    # NMS lists the kept boxes by score; a stable sort by image gives batched_nms's order.
    return keep[torch.argsort(idxs[keep], stable=True)]


# -- network layers and batching ----------------------------------------------------------------


class CeilMaxPool2d(nn.MaxPool2d):
    """``nn.MaxPool2d(kernel_size, stride, ceil_mode=True)``, computed on CPU as a running
    maximum of strided views: the same values, without the argmax indices torch's CPU kernel
    also computes and inference discards."""

    def __init__(self, kernel_size: int, stride: int) -> None:
        super().__init__(kernel_size, stride, ceil_mode=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not applies(x):
            return super().forward(x)
        kernel, stride = self.kernel_size, self.stride
        for dim in (2, 3):
            length = x.shape[dim]
            count = -(-(length - kernel) // stride) + 1
            pooled = torch.empty_like(x.narrow(dim, 0, count))
            pooled.copy_(_every(x, dim, 0, stride, count))
            for offset in range(1, kernel):
                # With ceil_mode the last windows may be cut short by the edge.
                n = min(count, -(-(length - offset) // stride))
                part = pooled.narrow(dim, 0, n)
                torch.maximum(part, _every(x, dim, offset, stride, n), out=part)
            x = pooled
        return x


def _every(x: torch.Tensor, dim: int, start: int, step: int, count: int) -> torch.Tensor:
    index = [slice(None)] * x.dim()
    index[dim] = slice(start, start + (count - 1) * step + 1, step)
    return x[tuple(index)]


class PixelRowPReLU(nn.PReLU):
    """``nn.PReLU`` with the same values, on torch's vectorized path for channels-last CPU
    tensors whose channel count is not a multiple of 16 (P-Net's 10, R-Net's 28).

    torch's kernel falls back to a scalar loop there. Channels-last memory is a run of pixels,
    ``C`` values each, so ``k`` pixels side by side form rows of ``k * C`` values to which
    the weights, tiled ``k`` times, apply per "channel" on the vectorized path.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = x.shape[1] if x.dim() == 4 else 0
        if (
            not applies(x)
            or channels % 16 == 0
            or not x.is_contiguous(memory_format=torch.channels_last)
        ):
            return super().forward(x)
        n, c, h, w = x.shape
        pixels = 16 // math.gcd(channels, 16)
        whole = (n * h * w) // pixels * pixels * c
        if whole == 0:
            return super().forward(x)
        flat = x.permute(0, 2, 3, 1).reshape(-1)  # a view: the channels-last memory
        out = nn.functional.prelu(
            flat[:whole].view(-1, pixels * c), self.weight.repeat(pixels)
        ).view(-1)
        if whole < len(flat):
            # The last few pixels (fewer than a row) on torch's path, joined on.
            rest = nn.functional.prelu(flat[whole:].view(-1, c), self.weight).view(-1)
            out = torch.cat([out, rest])
        return out.view(n, h, w, c).permute(0, 3, 1, 2)


_STRIP_CELLS = 10_000  # P-Net output cells per strip
_MIN_STRIP_ROWS = 8


def pnet_strips(
    maps: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]], x: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """P-Net's ``maps(x)`` (regressions and logits) computed over strips of output rows.

    Each output cell sees the same 12x12 input window either way, and a strip's activations
    stay in cache. torch's kernels can still round a map of another shape differently (by 1
    ulp, as between thread counts); with these strip sizes the maps equal the whole-map run on
    1080p/720p/540p frames, LFW batches and 4000x3000 photos.

    Returns:
        ``(B, 4, H', W')`` and ``(B, 2, H', W')``, or None where the map fits in cache as it is
        or the kernels do not apply.
    """
    out_rows = -(-(x.shape[2] - 2) // 2) - 4
    row_cells = max(1, x.shape[0] * (x.shape[3] // 2))
    strip = max(_MIN_STRIP_ROWS, _STRIP_CELLS // row_cells)
    if not applies(x) or out_rows * row_cells <= 3 * _STRIP_CELLS or out_rows <= 2 * strip:
        return None
    parts = [
        maps(x[:, :, 2 * top : 2 * min(out_rows, top + strip) + 10])
        for top in range(0, out_rows, strip)
    ]
    reg, logits = (torch.cat(m, dim=2) for m in zip(*parts, strict=True))
    return reg, logits


#: Crops per R-Net/O-Net call on CPU: their activations stay in a core's cache.
_CPU_CROPS_PER_CALL = {"RNet": 64, "ONet": 16}
#: Elsewhere, so that thousands of candidates don't exhaust GPU memory.
_CROPS_PER_CALL = 512


def crops_per_call(net: nn.Module, x: torch.Tensor) -> int:
    """How many crops of ``x`` to give ``net`` (an R-Net or O-Net) per call."""
    if applies(x):
        return _CPU_CROPS_PER_CALL.get(type(net).__name__, _CROPS_PER_CALL)
    return _CROPS_PER_CALL
