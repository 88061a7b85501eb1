"""faceprint.weights.tfjs: a TF.js model.json with float32, uint8, uint16 and float16 weights
split over two shards is read back to the values TF.js restores, and mapped onto a module."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from faceprint.errors import WeightsError
from faceprint.weights.tfjs import read_graph_model, to_state_dict


def _write_model(folder: Path) -> dict[str, np.ndarray]:
    """A model.json whose weights use every stored kind; returns the values TF.js restores."""
    rng = np.random.default_rng(0)
    kernel = rng.normal(size=(3, 3, 2, 4)).astype(np.float32)
    q8 = np.array([0, 1, 200, 255], dtype=np.uint8)
    q16 = np.array([[0, 65535], [12345, 7]], dtype=np.uint16)
    half = np.array([0.5, -1.25, 3.0e-3], dtype=np.float16)
    count = np.array([7], dtype=np.int32)
    data = kernel.tobytes() + q8.tobytes() + q16.tobytes() + half.tobytes() + count.tobytes()
    cut = 100  # the first shard ends inside the kernel
    (folder / "m.1.bin").write_bytes(data[:cut])
    (folder / "m.2.bin").write_bytes(data[cut:])
    spec = {
        "format": "graph-model",
        "modelTopology": {"node": [{"name": "x", "op": "Placeholder"}]},
        "weightsManifest": [
            {
                "paths": ["m.1.bin", "m.2.bin"],
                "weights": [
                    {"name": "conv/kernel", "shape": [3, 3, 2, 4], "dtype": "float32"},
                    {
                        "name": "bias8",
                        "shape": [4],
                        "dtype": "float32",
                        "quantization": {"dtype": "uint8", "scale": 0.1, "min": -2.0},
                    },
                    {
                        "name": "dense16",
                        "shape": [2, 2],
                        "dtype": "float32",
                        "quantization": {"dtype": "uint16", "scale": 1e-4, "min": -3.0},
                    },
                    {
                        "name": "half",
                        "shape": [3],
                        "dtype": "float32",
                        "quantization": {"dtype": "float16", "original_dtype": "float32"},
                    },
                    {"name": "axis", "shape": [], "dtype": "int32"},
                ],
            }
        ],
    }
    (folder / "model.json").write_text(json.dumps(spec))
    return {
        "conv/kernel": kernel,
        "bias8": np.float32(np.array([-2.0, -1.9, 18.0, 23.5])),
        "dense16": np.array([[-3.0, 3.5535], [-1.7655, -2.9993]], dtype=np.float32),
        "half": half.astype(np.float32),
        "axis": np.array(7, dtype=np.int32),
    }


def test_reads_every_weight_kind_across_shards(tmp_path: Path) -> None:
    expected = _write_model(tmp_path)
    graph = read_graph_model(tmp_path / "model.json")
    assert graph.ops() == {"Placeholder": 1}
    assert set(graph.weights) == set(expected)
    for name, value in expected.items():
        assert graph.weights[name].shape == value.shape, name
        np.testing.assert_allclose(graph.weights[name], value, rtol=0, atol=1e-6, err_msg=name)
    assert graph.weights["bias8"].dtype == np.float32


def test_maps_layouts_onto_a_module(tmp_path: Path) -> None:
    _write_model(tmp_path)
    graph = read_graph_model(tmp_path / "model.json")
    module = torch.nn.ModuleDict(
        {"conv": torch.nn.Conv2d(2, 4, 3), "dense": torch.nn.Linear(2, 2, bias=False)}
    )
    mapping = {
        "conv.weight": ("conv/kernel", "conv"),
        "conv.bias": ("bias8", "same"),
        "dense.weight": ("dense16", "dense"),
    }
    state = to_state_dict(graph, mapping, module.state_dict())
    module.load_state_dict(state)
    # (kh, kw, in, out) -> (out, in, kh, kw): output channel 3, input 1, row 2, column 0.
    assert state["conv.weight"][3, 1, 2, 0] == pytest.approx(
        graph.weights["conv/kernel"][2, 0, 1, 3]
    )
    assert state["dense.weight"][0, 1] == pytest.approx(graph.weights["dense16"][1, 0])


def test_mapping_errors_name_the_problem(tmp_path: Path) -> None:
    _write_model(tmp_path)
    graph = read_graph_model(tmp_path / "model.json")
    conv = torch.nn.Conv2d(2, 4, 3)
    with pytest.raises(WeightsError, match="no graph weight is mapped to bias"):
        to_state_dict(graph, {"weight": ("conv/kernel", "conv")}, conv.state_dict())
    with pytest.raises(WeightsError, match="has no weight 'nope'"):
        to_state_dict(
            graph, {"weight": ("nope", "conv"), "bias": ("bias8", "same")}, conv.state_dict()
        )
    with pytest.raises(WeightsError, match=r"shape \(4, 2, 3, 3\), expected \(4, 2, 5, 5\)"):
        to_state_dict(
            graph,
            {"weight": ("conv/kernel", "conv"), "bias": ("bias8", "same")},
            torch.nn.Conv2d(2, 4, 5).state_dict(),
        )


def test_truncated_or_missing_shard(tmp_path: Path) -> None:
    _write_model(tmp_path)
    shard = tmp_path / "m.2.bin"
    shard.write_bytes(shard.read_bytes()[:-10])
    with pytest.raises(WeightsError, match="shards end inside weight"):
        read_graph_model(tmp_path / "model.json")
    shard.unlink()
    with pytest.raises(WeightsError, match="cannot read weight shard"):
        read_graph_model(tmp_path / "model.json")


def test_not_a_model(tmp_path: Path) -> None:
    (tmp_path / "model.json").write_text('{"modelTopology": {}}')
    with pytest.raises(WeightsError, match="not a TF.js model.json"):
        read_graph_model(tmp_path / "model.json")
