"""The three MTCNN networks. Layer names match facenet-pytorch so its state dicts load as-is."""

from __future__ import annotations

import math
import os

import torch
from torch import nn

from faceprint.weights.fetch import load_state_dict
from faceprint.weights.registry import get_weights

_STRIP_CELLS = 10_000  # P-Net output cells per strip on CPU (batches of small images: 1.2x)
_MIN_STRIP_ROWS = 8


class _Stage(nn.Module):
    weights_name: str

    def _load_pretrained(self, pretrained: bool | str | os.PathLike) -> None:
        if pretrained is False or pretrained is None:
            return
        path = None if pretrained is True else pretrained
        self.load_state_dict(load_state_dict(get_weights(self.weights_name), path=path))
        self.eval()


def _cpu_inference(x: torch.Tensor) -> bool:
    """Whether the CPU-only rewrites below apply: they skip autograd and serve inference only."""
    return x.device.type == "cpu" and not torch.is_grad_enabled()


class CeilMaxPool2d(nn.MaxPool2d):
    """``nn.MaxPool2d(kernel_size, stride, ceil_mode=True)``, computed on CPU as a running
    maximum of strided views: the same values, 1.1-2.5x faster there for the 3x3 and P-Net's
    2x2 pools, because torch's CPU kernel also computes the argmax indices that inference
    discards. (O-Net's last 2x2 pool, on 8x8 maps, is faster in torch's kernel.)
    """

    def __init__(self, kernel_size: int, stride: int) -> None:
        super().__init__(kernel_size, stride, ceil_mode=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not _cpu_inference(x):
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


class PixelRowPReLU(nn.PReLU):
    """``nn.PReLU`` with the same values, several times faster on channels-last CPU tensors whose
    channel count is not a multiple of 16 (P-Net's 10, R-Net's 28).

    torch's kernel falls back to a scalar loop there. Channels-last memory is a run of pixels,
    ``C`` values each, so ``k`` pixels side by side form rows of ``k * C`` values to which
    the weights, tiled ``k`` times, apply per "channel" on the vectorized path.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = x.shape[1] if x.dim() == 4 else 0
        if (
            not _cpu_inference(x)
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
        out = nn.functional.prelu(flat[:whole].view(-1, pixels * c), self.weight.repeat(pixels)).view(-1)
        if whole < len(flat):
            # The last few pixels (fewer than a row) on torch's path: 4x faster than all of
            # them there, even with the copy that joins them on.
            rest = nn.functional.prelu(flat[whole:].view(-1, c), self.weight).view(-1)
            out = torch.cat([out, rest])
        return out.view(n, h, w, c).permute(0, 3, 1, 2)


def _every(x: torch.Tensor, dim: int, start: int, step: int, count: int) -> torch.Tensor:
    index = [slice(None)] * x.dim()
    index[dim] = slice(start, start + (count - 1) * step + 1, step)
    return x[tuple(index)]


class PNet(_Stage):
    """MTCNN proposal network: a fully convolutional 12x12 face/no-face classifier.

    Args:
        pretrained: ``True`` loads the registry weights ``mtcnn-pnet``; a path loads that file;
            ``False`` leaves the layers randomly initialised.

    Input ``(B, 3, H, W)`` standardized as ``(x - 127.5) / 128``. Returns box regressions
    ``(B, 4, H', W')`` and face probabilities ``(B, 2, H', W')`` (softmax over no-face/face).
    """

    weights_name = "mtcnn-pnet"

    def __init__(self, pretrained: bool | str | os.PathLike = True) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 10, kernel_size=3)
        self.prelu1 = PixelRowPReLU(10)
        self.pool1 = CeilMaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(10, 16, kernel_size=3)
        self.prelu2 = nn.PReLU(16)
        self.conv3 = nn.Conv2d(16, 32, kernel_size=3)
        self.prelu3 = nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, kernel_size=1)
        self.softmax4_1 = nn.Softmax(dim=1)
        self.conv4_2 = nn.Conv2d(32, 4, kernel_size=1)
        self.training = False
        self._load_pretrained(pretrained)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # On CPU, a large map runs as strips of output rows whose activations stay in cache
        # (2.5x faster on a 1080p frame's first pyramid level). Each output cell sees the same
        # 12x12 input window either way. torch's kernels can still round a map of another
        # shape differently (by 1 ulp, as between thread counts); with these strip sizes the
        # maps equal the whole-map run on 1080p/720p/540p frames, LFW batches and 4000x3000
        # photos.
        out_rows = -(-(x.shape[2] - 2) // 2) - 4
        row_cells = max(1, x.shape[0] * (x.shape[3] // 2))
        strip = max(_MIN_STRIP_ROWS, _STRIP_CELLS // row_cells)
        if (
            not _cpu_inference(x)
            or out_rows * row_cells <= 3 * _STRIP_CELLS  # fits in cache as it is
            or out_rows <= 2 * strip
        ):
            reg, logits = self._maps(x)
        else:
            parts = [
                self._maps(x[:, :, 2 * top : 2 * min(out_rows, top + strip) + 10])
                for top in range(0, out_rows, strip)
            ]
            reg, logits = (torch.cat(maps, dim=2) for maps in zip(*parts))
        # Softmax on the whole map: its vectorized loop rounds by position in the tensor.
        return reg, self.softmax4_1(logits)

    def _maps(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Box regressions and face logits, ``(B, 4, H', W')`` and ``(B, 2, H', W')``."""
        x = self.prelu1(self.conv1(x))
        x = self.pool1(x)
        x = self.prelu2(self.conv2(x))
        x = self.prelu3(self.conv3(x))
        return self.conv4_2(x), self.conv4_1(x)


class RNet(_Stage):
    """MTCNN refinement network on 24x24 candidate crops.

    Args:
        pretrained: as for :class:`PNet` (registry weights ``mtcnn-rnet``).

    Input ``(N, 3, 24, 24)`` standardized. Returns box regressions ``(N, 4)`` and face
    probabilities ``(N, 2)``.
    """

    weights_name = "mtcnn-rnet"
    cpu_batch = 64  # crops per call on CPU: the activations stay in a core's cache

    def __init__(self, pretrained: bool | str | os.PathLike = True) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 28, kernel_size=3)
        self.prelu1 = PixelRowPReLU(28)
        self.pool1 = CeilMaxPool2d(3, 2)
        self.conv2 = nn.Conv2d(28, 48, kernel_size=3)
        self.prelu2 = nn.PReLU(48)
        self.pool2 = CeilMaxPool2d(3, 2)
        self.conv3 = nn.Conv2d(48, 64, kernel_size=2)
        self.prelu3 = nn.PReLU(64)
        self.dense4 = nn.Linear(576, 128)
        self.prelu4 = nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.softmax5_1 = nn.Softmax(dim=1)
        self.dense5_2 = nn.Linear(128, 4)
        self.training = False
        self._load_pretrained(pretrained)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu3(self.conv3(x))
        # The weights were trained in Caffe's (W, H, C) flattening order.
        x = x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)
        x = self.prelu4(self.dense4(x))
        return self.dense5_2(x), self.softmax5_1(self.dense5_1(x))


class ONet(_Stage):
    """MTCNN output network on 48x48 crops: final score, box and 5 landmarks.

    Args:
        pretrained: as for :class:`PNet` (registry weights ``mtcnn-onet``).

    Input ``(N, 3, 48, 48)`` standardized. Returns box regressions ``(N, 4)``, landmarks
    ``(N, 10)`` (5 x-coordinates then 5 y-coordinates, relative to the crop) and face
    probabilities ``(N, 2)``.
    """

    weights_name = "mtcnn-onet"
    cpu_batch = 16  # crops per call on CPU: the activations stay in a core's cache

    def __init__(self, pretrained: bool | str | os.PathLike = True) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, kernel_size=3)
        self.prelu1 = nn.PReLU(32)
        self.pool1 = CeilMaxPool2d(3, 2)
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3)
        self.prelu2 = nn.PReLU(64)
        self.pool2 = CeilMaxPool2d(3, 2)
        self.conv3 = nn.Conv2d(64, 64, kernel_size=3)
        self.prelu3 = nn.PReLU(64)
        self.pool3 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.conv4 = nn.Conv2d(64, 128, kernel_size=2)
        self.prelu4 = nn.PReLU(128)
        self.dense5 = nn.Linear(1152, 256)
        self.prelu5 = nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.softmax6_1 = nn.Softmax(dim=1)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)
        self.training = False
        self._load_pretrained(pretrained)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu4(self.conv4(x))
        x = x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)
        x = self.prelu5(self.dense5(x))
        return self.dense6_2(x), self.dense6_3(x), self.softmax6_1(self.dense6_1(x))
