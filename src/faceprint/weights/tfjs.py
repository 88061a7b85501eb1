"""Read TensorFlow.js graph models (``model.json`` and its ``.bin`` weight shards).

A TF.js graph model is a JSON file holding the graph (``modelTopology``) and a
``weightsManifest``: groups of weight specs (name, shape, dtype and, for quantized weights, the
quantization's dtype, scale and min) whose values lie back to back in the group's shard files.
Written by hand (about 100 lines) because the format is small and documented, and the only
reader, ``tensorflowjs``, needs all of TensorFlow.

:func:`read_graph_model` returns the weights as float32 arrays in TensorFlow's layouts;
:func:`to_state_dict` maps them onto a PyTorch module by name, changing the layouts.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from faceprint.errors import WeightsError

_DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_}
_QUANTIZED = {"uint8": np.uint8, "uint16": np.uint16, "float16": np.float16}

#: How a TensorFlow tensor becomes a PyTorch one: ``"conv"`` is ``(kh, kw, in, out)`` to
#: ``(out, in, kh, kw)``, ``"depthwise"`` is ``(kh, kw, C, 1)`` to ``(C, 1, kh, kw)``,
#: ``"dense"`` is ``(in, out)`` to ``(out, in)``, ``"same"`` keeps the layout.
Layout = Literal["conv", "depthwise", "dense", "same"]


@dataclass(frozen=True)
class GraphModel:
    """A TF.js graph model as read from disk.

    Attributes:
        path: the ``model.json`` file.
        nodes: the graph's nodes as in the JSON (``name``, ``op``, ``input``, ``attr``).
        weights: every weight by its graph name, dequantized: float32 (or int32, bool) arrays in
            TensorFlow's layouts.
    """

    path: Path
    nodes: tuple[dict, ...]
    weights: Mapping[str, np.ndarray]

    def ops(self) -> dict[str, int]:
        """How many nodes of each op the graph has, e.g. ``{"_FusedConv2D": 35, ...}``."""
        counts: dict[str, int] = {}
        for node in self.nodes:
            counts[node["op"]] = counts.get(node["op"], 0) + 1
        return counts


def read_graph_model(model_json: str | os.PathLike) -> GraphModel:
    """Read ``model.json`` and the weight shards it names (beside it).

    Quantized weights are restored as TF.js restores them: ``uint8``/``uint16`` values ``q``
    become ``q * scale + min`` (computed in float64, then rounded to float32, as JavaScript
    does), ``float16`` values are widened to float32.

    Raises:
        WeightsError: the file is not a TF.js graph model, a shard is missing, or the shards
            hold fewer bytes than the manifest describes.
    """
    path = Path(model_json)
    try:
        spec = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise WeightsError(f"cannot read TF.js model {path}: {exc}") from exc
    if not isinstance(spec, dict) or "weightsManifest" not in spec:
        raise WeightsError(f"{path} is not a TF.js model.json (no weightsManifest)")
    weights: dict[str, np.ndarray] = {}
    for group in spec["weightsManifest"]:
        buffer = b""
        for shard in group["paths"]:
            shard_path = path.parent / shard
            try:
                buffer += shard_path.read_bytes()
            except OSError as exc:
                raise WeightsError(f"cannot read weight shard {shard_path}: {exc}") from exc
        offset = 0
        for entry in group["weights"]:
            array, offset = _read_weight(entry, buffer, offset, path)
            weights[entry["name"]] = array
    nodes = tuple(spec.get("modelTopology", {}).get("node", ()))
    return GraphModel(path=path, nodes=nodes, weights=weights)


def _read_weight(entry: dict, buffer: bytes, offset: int, path: Path) -> tuple[np.ndarray, int]:
    name, shape = entry["name"], tuple(entry["shape"])
    count = int(np.prod(shape, dtype=np.int64))
    quantization = entry.get("quantization")
    dtype = _QUANTIZED.get(quantization["dtype"]) if quantization else _DTYPES.get(entry["dtype"])
    if dtype is None:
        kind = quantization["dtype"] if quantization else entry["dtype"]
        raise WeightsError(f"{path}: weight {name!r} has unsupported dtype {kind!r}")
    size = count * np.dtype(dtype).itemsize
    if offset + size > len(buffer):
        raise WeightsError(
            f"{path}: the shards end inside weight {name!r} ({len(buffer)} bytes, "
            f"need {offset + size}); a shard is truncated"
        )
    raw = np.frombuffer(buffer, dtype=dtype, count=count, offset=offset)
    if quantization is None:
        array = raw.copy()
    elif quantization["dtype"] == "float16":
        array = raw.astype(np.float32)
    else:
        array = (raw.astype(np.float64) * quantization["scale"] + quantization["min"]).astype(
            np.float32
        )
    return array.reshape(shape), offset + size


def to_state_dict(
    graph: GraphModel,
    mapping: Mapping[str, tuple[str, Layout]],
    expected: Mapping[str, torch.Tensor],
) -> dict[str, torch.Tensor]:
    """Map graph weights onto a module's state dict by name.

    Args:
        graph: the model read by :func:`read_graph_model`.
        mapping: state-dict key -> (graph weight name, layout change, see :data:`Layout`).
        expected: the target module's ``state_dict()``, for the keys and shapes.

    Returns:
        A float32 state dict with every key of ``expected``.

    Raises:
        WeightsError: a key has no mapping, a graph weight is missing, or a shape disagrees.
    """
    unmapped = sorted(set(expected) - set(mapping))
    if unmapped:
        raise WeightsError(f"{graph.path}: no graph weight is mapped to {', '.join(unmapped[:5])}")
    out: dict[str, torch.Tensor] = {}
    for key, (name, layout) in mapping.items():
        if name not in graph.weights:
            raise WeightsError(f"{graph.path}: the graph has no weight {name!r} (for {key})")
        value = graph.weights[name].astype(np.float32)
        if layout == "conv":
            value = value.transpose(3, 2, 0, 1)
        elif layout == "depthwise":
            value = value.transpose(2, 3, 0, 1)
        elif layout == "dense":
            value = value.T
        tensor = torch.from_numpy(np.ascontiguousarray(value))
        if key not in expected or tuple(expected[key].shape) != tuple(tensor.shape):
            want = tuple(expected[key].shape) if key in expected else "no such key"
            raise WeightsError(
                f"{graph.path}: {name} becomes {key} of shape {tuple(tensor.shape)}, "
                f"expected {want}"
            )
        out[key] = tensor
    return out
