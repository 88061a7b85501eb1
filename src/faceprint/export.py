"""Every network to ONNX or TorchScript, each file carrying what a caller in another language
needs to feed it (standardization, input size, embedding size, source record).

- embedders (registry names or faceprint model files): ``(B, 3, S, S)`` standardized crops in,
  ``(B, D)`` unit embeddings out, the batch axis dynamic;
- detectors, by registry name (a fused name exports each member's networks):

  - ``mtcnn``: P-Net with dynamic batch, height and width (a 12x12 input is the classic
    mistake: the network is fully convolutional and runs on whole pyramid levels), R-Net and
    O-Net with a dynamic batch of 24x24 and 48x48 crops;
  - ``centerface``: the network with dynamic batch, height and width (multiples of 32), its
    four maps out; the decoding is :func:`faceprint.detection.centerface.decode`.

ONNX files hold the facts as metadata properties (``faceprint``: a JSON object); TorchScript
files as the extra file ``faceprint.json``. The faceprint CPU kernels are switched off while
tracing, so the graphs hold plain torch ops.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import torch
from torch import nn

from faceprint.alignment import DLIB_MEAN_RGB
from faceprint.errors import FaceprintError
from faceprint.extras import require

FORMATS = ("onnx", "torchscript")
DEFAULT_OPSET = 17
#: The opsets this exporter writes and ONNX Runtime 1.16+ runs.
OPSETS = range(13, 22)


class _PNetGraph(nn.Module):
    """P-Net as one graph: its maps over the whole input (no cache-sized strips), softmax."""

    def __init__(self, pnet: nn.Module) -> None:
        super().__init__()
        self.pnet = pnet

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        reg, logits = self.pnet._maps(x)
        return reg, self.pnet.softmax4_1(logits)


#: What each standardization does to 0..255 pixels, for the sidecar's readers.
_FORMULAS = {
    "fixed": "(x - 127.5) / 128",
    "per_image": "per image: (x - mean) / max(std, 1 / sqrt(numel))",
    "dlib": f"(x - {DLIB_MEAN_RGB}) / 256",
    "raw": "x (0..255, unchanged)",
}


#: The networks each exportable detector runs, by registry name.
DETECTOR_NETWORKS = {"mtcnn": ("pnet", "rnet", "onet"), "centerface": ("centerface",)}


def detector_networks(name: str) -> list[str] | None:
    """The networks :func:`export` writes for the detector ``name`` (a fused name: each
    member's), or None where ``name`` names no detector.

    Raises:
        FaceprintError: ``name`` names a registered detector that has no exporter.
    """
    from faceprint.detection.registry import FUSED_SEPARATOR, list_detectors

    members = str(name).split(FUSED_SEPARATOR)
    if not all(m in list_detectors() for m in members):
        return None
    missing = [m for m in members if m not in DETECTOR_NETWORKS]
    if missing:
        raise FaceprintError(
            f"detector {', '.join(missing)} has no exporter; exportable: "
            f"{', '.join(DETECTOR_NETWORKS)}"
        )
    return [n for m in members for n in DETECTOR_NETWORKS[m]]


def _spec(name: str) -> tuple[nn.Module, torch.Tensor, list[str], list[str], dict, dict]:
    """Module, example input, input/output names, dynamic axes and metadata of one network."""
    from faceprint.detection.nets import ONet, PNet, RNet

    if name == "centerface":
        return _centerface_spec()
    if name == "pnet":
        return (
            _PNetGraph(PNet().eval()),
            torch.zeros(1, 3, 60, 80),
            ["images"],
            ["boxes", "probabilities"],
            {"images": {0: "batch", 2: "height", 3: "width"}},
            {"input": "(B, 3, H, W) float32, (RGB - 127.5) / 128, any H, W >= 12"},
        )
    net, size, outputs = {
        "rnet": (RNet, 24, ["boxes", "probabilities"]),
        "onet": (ONet, 48, ["boxes", "landmarks", "probabilities"]),
    }[name]
    return (
        net().eval(),
        torch.zeros(2, 3, size, size),
        ["crops"],
        outputs,
        {"crops": {0: "batch"}},
        {"input": f"(B, 3, {size}, {size}) float32 crops, (RGB - 127.5) / 128"},
    )


def _centerface_spec():
    from faceprint.detection.centerface import STRIDE, CenterFaceNet
    from faceprint.weights.loading import get_weights

    maps = f"(B, C, H/{STRIDE}, W/{STRIDE})"
    outputs = ["heatmap", "scale", "offset", "landmarks"]
    return (
        CenterFaceNet().eval(),
        torch.zeros(1, 3, 64, 96),
        ["images"],
        outputs,
        {"images": {0: "batch", 2: "height", 3: "width"}}
        | {o: {0: "batch", 2: "rows", 3: "cols"} for o in outputs},
        {
            "input": "(B, 3, H, W) float32 RGB 0..255 (no standardization), H and W multiples "
            "of 32 (zero-pad right and bottom)",
            "output": f"{maps} maps: heatmap (C=1, 0..1), scale (C=2, log of height, width / "
            f"{STRIDE}), offset (C=2, y, x in cells), landmarks (C=10, y, x per point in box "
            "sizes)",
            "decode": "faceprint.detection.centerface.decode",
            "source": "centerface",
            "sha256": get_weights("centerface").sha256 or "",
        },
    )


def _embedder_spec(model: str | os.PathLike):
    from faceprint.weights.factory import create_model

    net = create_model(model).eval()
    record = net.weights
    size = record.input_size or 160
    facts = {
        "input": f"(B, 3, {size}, {size}) float32 RGB face crops",
        "standardization": record.standardization or "fixed",
        "standardization_formula": _FORMULAS[record.standardization or "fixed"],
        "input_size": size,
        "embedding_size": int(record.embedding_size or net.embedding_size),
        "output": "(B, D) float32 unit embeddings",
        "source": record.name,
        "sha256": record.sha256 or "",
    }
    return (
        net,
        torch.zeros(2, 3, size, size),
        ["crops"],
        ["embeddings"],
        {
            "crops": {0: "batch"},
            "embeddings": {0: "batch"},
        },
        facts,
    )


def export_targets(model: str | os.PathLike, fmt: str, out: str | os.PathLike) -> list[Path]:
    """The files :func:`export` writes for ``model`` in format ``fmt`` into the folder ``out``:
    ``<name>.onnx`` or ``<name>.pt``, one per network (a detector's:
    :func:`detector_networks`, e.g. ``pnet``, ``rnet``, ``onet`` for ``"mtcnn"``; a model
    file's stem; else the registry name)."""
    names = None if Path(model).suffix else detector_networks(str(model))
    if names is None:
        names = [Path(model).stem if Path(model).suffix else str(model)]
    suffix = ".onnx" if fmt == "onnx" else ".pt"
    return [Path(out) / f"{name}{suffix}" for name in names]


def export(
    model: str | os.PathLike,
    fmt: str = "onnx",
    out: str | os.PathLike = ".",
    opset: int = DEFAULT_OPSET,
    force: bool = False,
) -> list[Path]:
    """Export a network (or a detector's networks) to ``out``.

    Args:
        model: a registry name, a faceprint model file, or a detector name (``"mtcnn"``,
            ``"centerface"``, ``"mtcnn+centerface"``: :func:`detector_networks`).
        fmt: ``"onnx"`` or ``"torchscript"``.
        out: the folder to write to (created).
        opset: ONNX opset (13..21).
        force: overwrite existing files.

    Returns:
        The files written: ``<name>.onnx`` or ``<name>.pt`` per network.

    Raises:
        FaceprintError: an unknown format or opset, an existing file without ``force``, an
            unknown model.
    """
    from faceprint.detection import cpu_kernels

    if fmt not in FORMATS:
        raise FaceprintError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    if fmt == "onnx":
        require("onnx", "onnx", "exporting to ONNX")
    if fmt == "onnx" and opset not in OPSETS:
        raise FaceprintError(
            f"opset {opset} is not one ONNX Runtime runs from this exporter; use "
            f"{OPSETS.start}..{OPSETS.stop - 1} (default {DEFAULT_OPSET})"
        )
    networks = None if Path(model).suffix else detector_networks(str(model))
    if networks is not None:
        specs = {name: _spec(name) for name in networks}
    else:
        stem = Path(model).stem if Path(model).suffix else str(model)
        specs = {stem: _embedder_spec(model)}
    targets = dict(zip(specs, export_targets(model, fmt, out), strict=True))
    existing = [str(p) for p in targets.values() if p.exists()]
    if existing and not force:
        raise FaceprintError(f"{', '.join(existing)} already exist(s); pass --force to replace")
    Path(out).mkdir(parents=True, exist_ok=True)
    previous = cpu_kernels.set_enabled(False)
    try:
        for name, (module, example, inputs, outputs, axes, facts) in specs.items():
            facts = {"name": name, "format": fmt, **facts}
            if fmt == "onnx":
                _write_onnx(module, example, inputs, outputs, axes, facts, targets[name], opset)
            else:
                _write_torchscript(module, example, facts, targets[name])
    finally:
        cpu_kernels.set_enabled(previous)
    return list(targets.values())


def _write_onnx(module, example, inputs, outputs, axes, facts, path: Path, opset: int) -> None:
    import onnx

    with warnings.catch_warnings():
        # The TorchScript-based exporter: it traces P-Net's dynamic height and width without
        # the onnxscript dependency the newer exporter brings.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (example,),
            str(path),
            dynamo=False,
            input_names=inputs,
            output_names=outputs,
            dynamic_axes={**axes, **{o: {0: "batch"} for o in outputs if o not in axes}},
            opset_version=opset,
        )
    graph = onnx.load(str(path))
    prop = graph.metadata_props.add()
    prop.key, prop.value = "faceprint", json.dumps(facts)
    onnx.save(graph, str(path))


def _write_torchscript(module, example, facts, path: Path) -> None:
    with warnings.catch_warnings():
        # TorchScript is deprecated in favour of torch.export, but it is what libtorch loads.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", FutureWarning)
        traced = torch.jit.trace(module, example)
        torch.jit.save(traced, str(path), _extra_files={"faceprint.json": json.dumps(facts)})


def read_facts(path: str | os.PathLike) -> dict:
    """The metadata an exported file carries (ONNX metadata or TorchScript extra file)."""
    path = Path(path)
    if path.suffix == ".onnx":
        import onnx

        graph = onnx.load(str(path), load_external_data=False)
        return json.loads({p.key: p.value for p in graph.metadata_props}["faceprint"])
    extra = {"faceprint.json": ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.load(str(path), _extra_files=extra)
    return json.loads(extra["faceprint.json"])
