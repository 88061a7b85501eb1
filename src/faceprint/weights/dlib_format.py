"""Read dlib's serialized face-recognition network (``dlib_face_recognition_resnet_model_v1.dat``)
with Python alone.

The file format (``dlib/serialize.h``, ``dlib/dnn/core.h``, ``dlib/dnn/layers.h``,
``dlib/cuda/tensor.h``), as far as this network needs it:

Primitives
    - *int*: one control byte, then the magnitude little-endian in ``control & 0x0F`` bytes (at
      most 8); ``control & 0x80`` marks a negative number. ``0x00`` alone is zero.
    - *float* (``float_details``): an int mantissa then an int exponent; the value is
      ``mantissa * 2**exponent`` (exponents 32000, 32001, 32002 mean +inf, -inf, nan).
    - *string*: an int length, then that many bytes.
    - *bool*: one ASCII byte, ``'1'`` or ``'0'``.
    - *tensor*: int version 2, ints ``num_samples, k, nr, nc``, then ``num_samples*k*nr*nc``
      little-endian float32 (the layout is ``(n, k, r, c)``, as PyTorch's NCHW).
    - *alias tensor* (a view of a layer's ``params``): int version 1, then the four ints.

Network nesting
    A network is nested templates, the loss outermost and the input innermost, and each wrapper
    writes its own header and then its subnetwork *before* its details, so the file holds every
    header first (outermost to innermost) and then every layer's details from the input up:

    - loss (``add_loss_layer``): int version 1, the loss details, then the subnetwork.
    - ``add_layer`` (every computing layer): int version 2 (1 in old files), the subnetwork, the
      layer details, bools ``this_layer_setup_called``, ``gradient_input_is_stale``,
      ``get_output_and_gradient_input_disabled``, tensors ``x_grad``, ``cached_output`` and
      (version 2) ``params_grad``.
    - ``add_layer`` on the input layer: int version 3 (or 2), the input layer's details, the layer
      details, the three bools, tensors ``x_grad``, ``cached_output``, ``grad_final`` and
      (version 3) an int ``sample_expansion_factor``.
    - ``tag`` and ``skip`` layers: int version 1, then the subnetwork; nothing after.

Layer details (each starts with a version string)
    - ``loss_metric_2``: floats ``margin``, ``dist_thresh``.
    - ``input_rgb_image_sized``: floats ``avg_red``, ``avg_green``, ``avg_blue``; ints rows, cols.
    - ``con_4`` (``con_5``/``con_6`` add bool ``use_bias``, then bool ``use_relu``): tensor
      ``params`` (all filters, then the biases), ints ``num_filters``, ``nr``, ``nc``,
      ``stride_y``, ``stride_x``, ``padding_y``, ``padding_x``, alias tensors ``filters``
      ``(num_filters, k, nr, nc)`` and ``biases``, then four float learning-rate and
      weight-decay multipliers.
    - ``affine_`` (``affine_2`` adds bool ``disabled``): tensor ``params`` (gamma then beta),
      alias tensors ``gamma``, ``beta``, int mode (0 FC, 1 CONV).
    - ``relu_`` (``relu_2`` adds bool ``disabled``); ``add_prev_``: nothing more.
    - ``max_pool_2``, ``avg_pool_2``: ints ``nr``, ``nc``, ``stride_y``, ``stride_x``,
      ``padding_y``, ``padding_x`` (``nr = nc = 0``: pool over the whole image).
    - ``fc_2`` (``fc_3`` adds bool ``use_bias``): ints ``num_outputs``, ``num_inputs``, tensor
      ``params`` (the ``(num_inputs, num_outputs)`` weights, then the biases), alias tensors
      ``weights`` and ``biases``, int bias mode (1: no bias), then four float multipliers.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from faceprint.errors import WeightsError

#: dlib's residual blocks ``ares`` and ``ares_down`` (``dnn_face_recognition_ex.cpp``), outermost
#: layer first: ``add_prev`` is the residual addition, ``tag``/``skip`` the wrappers that route
#: its shortcut.
_ARES = ("relu", "add_prev", "affine", "con", "relu", "affine", "con", "tag")
_ARES_DOWN = (
    "relu",
    "add_prev",
    "avg_pool",
    "skip",
    "tag",
    "affine",
    "con",
    "relu",
    "affine",
    "con",
    "tag",
)


def face_recognition_layers() -> tuple[str, ...]:
    """Layer kinds of ``anet_type`` in dlib's ``dnn_face_recognition_ex.cpp``, outermost first."""
    levels = [
        _ARES_DOWN,  # alevel0: 256
        _ARES + _ARES + _ARES_DOWN,  # alevel1: 256
        _ARES + _ARES + _ARES_DOWN,  # alevel2: 128
        _ARES + _ARES + _ARES + _ARES_DOWN,  # alevel3: 64
        _ARES + _ARES + _ARES,  # alevel4: 32
    ]
    stem = ("max_pool", "relu", "affine", "con")
    return ("loss", "fc", "avg_pool", *(k for level in levels for k in level), *stem)


@dataclass
class DlibLayer:
    """One computing layer read from the file.

    Attributes:
        kind: ``con``, ``affine``, ``relu``, ``max_pool``, ``avg_pool``, ``add_prev`` or ``fc``.
        version: its version string, e.g. ``"con_4"``.
        ints: its integer settings by name (``num_filters``, ``stride_y``, ...).
        tensors: its parameters as float32 arrays (``filters``, ``biases``, ``gamma``, ``beta``,
            ``weights``).
    """

    kind: str
    version: str
    ints: dict[str, int] = field(default_factory=dict)
    tensors: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class DlibNetwork:
    """A dlib network file, read.

    Attributes:
        loss: the loss details' version string, e.g. ``"loss_metric_2"``.
        input_mean: ``(avg_red, avg_green, avg_blue)`` the input layer subtracts.
        input_size: ``(rows, cols)`` of the input layer.
        layers: the computing layers, from the input up.
    """

    loss: str
    input_mean: tuple[float, float, float]
    input_size: tuple[int, int]
    layers: list[DlibLayer]


class _Reader:
    """dlib's primitive encodings over a bytes buffer; every read past the end is an error."""

    def __init__(self, data: bytes, path: str) -> None:
        self.data, self.pos, self.path = data, 0, path

    def take(self, n: int, what: str) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise WeightsError(
                f"{self.path}: truncated: {what} needs {n} bytes at offset {self.pos}, the file "
                f"has {len(self.data)}"
            )
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def int(self, what: str = "an int") -> int:
        control = self.take(1, what)[0]
        size = control & 0x0F
        if size > 8 or control & 0x70:
            raise WeightsError(
                f"{self.path}: not a dlib network: byte {control:#04x} at offset {self.pos - 1} "
                f"cannot start {what}"
            )
        value = int.from_bytes(self.take(size, what), "little")
        return -value if control & 0x80 else value

    def float(self, what: str = "a float") -> float:
        mantissa, exponent = self.int(what), self.int(what)
        special = {32000: float("inf"), 32001: float("-inf"), 32002: float("nan")}
        return special.get(exponent, mantissa * 2.0**exponent)

    def string(self, what: str = "a string") -> str:
        length = self.int(what)
        if not 0 <= length <= 256:
            raise WeightsError(
                f"{self.path}: not a dlib network (another dlib object, such as a shape "
                f"predictor?): {what} at offset {self.pos} would be {length} bytes long"
            )
        return self.take(length, what).decode("latin-1")

    def bool(self, what: str = "a bool") -> bool:
        ch = self.take(1, what)
        if ch not in (b"0", b"1"):
            raise WeightsError(f"{self.path}: not a dlib network: {what} is {ch!r}, not '0'/'1'")
        return ch == b"1"

    def tensor(self, what: str) -> np.ndarray:
        self.expect_version(2, f"{what} tensor")
        shape = tuple(self.int(f"{what} shape") for _ in range(4))
        count = int(np.prod(shape))
        if any(s < 0 for s in shape) or count * 4 > len(self.data):
            raise WeightsError(f"{self.path}: {what} has an impossible shape {shape}")
        raw = self.take(4 * count, f"{what} data ({count} floats)")
        return np.frombuffer(raw, dtype="<f4").reshape(shape).astype(np.float32)

    def alias(self, what: str) -> tuple[int, int, int, int]:
        self.expect_version(1, f"{what} alias tensor")
        return tuple(self.int(f"{what} shape") for _ in range(4))  # type: ignore[return-value]

    def expect_version(self, allowed: int | tuple[int, ...], what: str) -> int:
        allowed = (allowed,) if isinstance(allowed, int) else allowed
        at = self.pos
        version = self.int(f"the version of {what}")
        if version not in allowed:
            raise WeightsError(
                f"{self.path}: not dlib's face-recognition network: {what} at offset {at} has "
                f"version {version}, expected {' or '.join(map(str, allowed))}"
            )
        return version


def read_dlib_network(path: str | os.PathLike) -> DlibNetwork:
    """Read a dlib network file shaped as dlib's face-recognition ResNet (``anet_type``).

    Args:
        path: a ``.dat`` file written by dlib's ``serialize(net)``.

    Returns:
        The loss, the input layer's settings and every computing layer, input first.

    Raises:
        WeightsError: the file is truncated, is not a dlib network, or is a dlib network of
            another shape (the message says which layer differs).
    """
    path = os.fspath(path)
    reader = _Reader(Path(path).read_bytes(), path)
    kinds = face_recognition_layers()
    versions: list[int] = []
    reader.expect_version(1, "the loss layer")
    loss = reader.string("the loss layer's name")
    if not loss.startswith("loss_metric"):
        raise WeightsError(
            f"{path}: a dlib network with loss {loss!r}, not dlib's face-recognition ResNet "
            f"(loss_metric); is it the face detector or another model?"
        )
    reader.float("margin")
    reader.float("dist_thresh")
    for i, kind in enumerate(kinds[1:-1], start=1):
        if kind in ("tag", "skip"):
            versions.append(reader.expect_version(1, f"layer {i} ({kind})"))
        else:
            versions.append(reader.expect_version((1, 2), f"layer {i} ({kind})"))
    input_version = reader.expect_version((2, 3), "the input layer")
    name = reader.string("the input layer's name")
    if name != "input_rgb_image_sized":
        raise WeightsError(f"{path}: input layer {name!r}, expected 'input_rgb_image_sized'")
    mean = (reader.float("avg_red"), reader.float("avg_green"), reader.float("avg_blue"))
    size = (reader.int("input rows"), reader.int("input cols"))

    layers = [_read_details(reader, "con", len(kinds) - 1)]
    for _ in range(3):
        reader.bool("a layer flag")
    reader.tensor("x_grad")
    reader.tensor("cached_output")
    reader.tensor("grad_final")
    if input_version == 3:
        reader.int("sample_expansion_factor")
    for index in range(len(kinds) - 2, 0, -1):
        kind = kinds[index]
        if kind in ("tag", "skip"):
            continue
        layers.append(_read_details(reader, kind, index))
        for _ in range(3):
            reader.bool("a layer flag")
        reader.tensor("x_grad")
        reader.tensor("cached_output")
        if versions[index - 1] == 2:
            reader.tensor("params_grad")
    if reader.pos != len(reader.data):
        raise WeightsError(
            f"{path}: {len(reader.data) - reader.pos} bytes follow the network; not dlib's "
            f"face-recognition network"
        )
    return DlibNetwork(loss, mean, size, layers)


_POOL_INTS = ("nr", "nc", "stride_y", "stride_x", "padding_y", "padding_x")


def _read_details(reader: _Reader, kind: str, index: int) -> DlibLayer:
    at = reader.pos
    version = reader.string(f"the name of layer {index} ({kind})")
    prefix = {"max_pool": "max_pool_", "avg_pool": "avg_pool_"}.get(kind, f"{kind}_")
    if not version.startswith(prefix):
        raise WeightsError(
            f"{reader.path}: layer {index} at offset {at} is {version!r}, expected {kind} in "
            f"dlib's face-recognition network: a dlib network of another shape"
        )
    layer = DlibLayer(kind, version)
    if kind == "con":
        params = reader.tensor("con params")
        for name in ("num_filters", "nr", "nc", "stride_y", "stride_x", "padding_y", "padding_x"):
            layer.ints[name] = reader.int(name)
        filters, biases = reader.alias("filters"), reader.alias("biases")
        for _ in range(4):
            reader.float("a learning-rate multiplier")
        if version in ("con_5", "con_6"):
            reader.bool("use_bias")
        if version == "con_6":
            reader.bool("use_relu")
        layer.tensors.update(_split(reader.path, params, {"filters": filters, "biases": biases}))
    elif kind == "affine":
        params = reader.tensor("affine params")
        gamma, beta = reader.alias("gamma"), reader.alias("beta")
        layer.ints["mode"] = reader.int("mode")
        if version == "affine_2":
            reader.bool("disabled")
        layer.tensors.update(_split(reader.path, params, {"gamma": gamma, "beta": beta}))
    elif kind == "relu":
        if version == "relu_2":
            reader.bool("disabled")
    elif kind in ("max_pool", "avg_pool"):
        for name in _POOL_INTS:
            layer.ints[name] = reader.int(name)
    elif kind == "fc":
        layer.ints["num_outputs"] = reader.int("num_outputs")
        layer.ints["num_inputs"] = reader.int("num_inputs")
        params = reader.tensor("fc params")
        weights, biases = reader.alias("weights"), reader.alias("biases")
        layer.ints["bias_mode"] = reader.int("bias mode")
        for _ in range(4):
            reader.float("a learning-rate multiplier")
        if version == "fc_3":
            reader.bool("use_bias")
        layer.tensors.update(_split(reader.path, params, {"weights": weights, "biases": biases}))
    return layer


def _split(
    path: str, params: np.ndarray, parts: dict[str, tuple[int, int, int, int]]
) -> dict[str, np.ndarray]:
    """Cut a layer's flat ``params`` tensor into the alias tensors that view it, in order."""
    flat, out, start = params.reshape(-1), {}, 0
    for name, shape in parts.items():
        count = int(np.prod(shape))
        if start + count > flat.size:
            raise WeightsError(
                f"{path}: {name} {shape} does not fit in the {flat.size} parameters of its layer"
            )
        out[name] = flat[start : start + count].reshape(shape)
        start += count
    return out
