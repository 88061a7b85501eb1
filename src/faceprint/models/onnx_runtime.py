"""Networks run by ONNX Runtime behind the torch call signature, so that the cascade and the
pipeline keep one code path whichever backend computes.

The ONNX files are :mod:`faceprint.export`'s, made on first use and cached under
``<weights cache>/onnx/``, named by the weights' sha256 (a file for other weights is another
name); a cached file whose recorded source does not match is rebuilt.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from faceprint.errors import FaceprintError

logger = logging.getLogger(__name__)

BACKENDS = ("torch", "onnxruntime")


def check_backend(backend: str) -> None:
    """Refuse an unknown backend, or onnxruntime where it is not installed."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "onnxruntime":
        try:
            import onnxruntime  # noqa: F401
        except ImportError:
            raise FaceprintError(
                "backend='onnxruntime' needs ONNX Runtime: pip install 'faceprint[onnx]'"
            ) from None


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
    """

    def __init__(self, path: str | os.PathLike, threads: int | None = None) -> None:
        super().__init__()
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.inter_op_num_threads = 1
        self.path = Path(path)
        self.session = ort.InferenceSession(str(path), options, providers=providers())
        self.input_name = self.session.get_inputs()[0].name
        self.several = len(self.session.get_outputs()) > 1

    def forward(self, x: torch.Tensor):
        outputs = self.session.run(
            None, {self.input_name: np.ascontiguousarray(x.detach().float().cpu().numpy())}
        )
        tensors = tuple(torch.from_numpy(o) for o in outputs)
        return tensors if self.several else tensors[0]


def cached_onnx(source: str | os.PathLike, sha256: str | None) -> dict[str, Path]:
    """The cached ONNX export of ``source``, made on first use.

    Args:
        source: a registry name, a faceprint model file, or ``"mtcnn"`` (its three networks).
        sha256: the weights' sha256 (the cache is keyed by it: other weights, other files).

    Returns:
        network name -> ``.onnx`` file. A file that no longer has the sha256 recorded when it
        was written (tampered with, or cut short) is rebuilt.
    """
    import json
    import shutil

    from faceprint.export import export
    from faceprint.files import sha256_file
    from faceprint.weights.fetch import cache_dir

    name = Path(source).stem if Path(source).suffix else str(source)
    folder = cache_dir() / "onnx" / f"{name}-{(sha256 or 'unversioned')[:16]}"
    manifest = folder / "manifest.json"
    if manifest.exists():
        try:
            recorded = json.loads(manifest.read_text())
            files = {stem: folder / f"{stem}.onnx" for stem in recorded}
            if all(sha256_file(files[stem]) == digest for stem, digest in recorded.items()):
                return files
            logger.warning("%s: a cached export changed since it was written; rebuilding", folder)
        except (OSError, ValueError) as e:
            logger.warning("%s: unreadable cached export (%s); rebuilding it", folder, e)
    staging = folder.with_name(f".{folder.name}.part")
    shutil.rmtree(staging, ignore_errors=True)
    written = export(source, "onnx", staging, force=True)
    (staging / "manifest.json").write_text(
        json.dumps({p.stem: sha256_file(p) for p in written}, indent=1)
    )
    shutil.rmtree(folder, ignore_errors=True)
    staging.replace(folder)
    return {p.stem: folder / p.name for p in written}


def mtcnn_networks() -> tuple[OnnxNetwork, OnnxNetwork, OnnxNetwork]:
    """P-Net, R-Net and O-Net in ONNX Runtime."""
    from faceprint.weights.factory import get_weights

    key = "".join((get_weights(f"mtcnn-{n}").sha256 or "")[:8] for n in ("pnet", "rnet", "onet"))
    files = cached_onnx("mtcnn", key)
    return tuple(OnnxNetwork(files[n]) for n in ("pnet", "rnet", "onet"))
