"""Which arithmetic the embedding network runs in: ``fp32``, ``bf16`` or ``int8``, and what
``"auto"`` means on this machine."""

from __future__ import annotations

import functools
import os

import torch

#: Every precision a recognizer takes; ``auto`` resolves to ``bf16`` or ``fp32``.
PRECISIONS = ("auto", "fp32", "bf16", "int8")
#: Environment variable that ``precision="auto"`` honours: ``bf16``, ``fp32`` or ``auto``.
PRECISION_ENV = "FACEPRINT_PRECISION"
#: The CPU flags that decide the fast paths: native bf16 (AVX-512 BF16, AMX) and int8 (VNNI, AMX).
PRECISION_FLAGS = ("avx512_bf16", "amx_bf16", "avx512_vnni", "avx_vnni", "amx_int8")


@functools.cache
def cpu_flags() -> frozenset[str]:
    """The flags of this machine's CPU, read from ``/proc/cpuinfo`` (empty where unreadable)."""
    try:
        with open("/proc/cpuinfo") as f:
            return frozenset(f.read().split())
    except OSError:
        return frozenset()


def precision_flags() -> str:
    """The CPU's precision-relevant flags, e.g. ``"avx512_bf16 avx512_vnni"`` (``"none"``), for
    benchmark headers."""
    return " ".join(f for f in PRECISION_FLAGS if f in cpu_flags()) or "none"


def native_precision(device: str | torch.device | None = None) -> str:
    """``"bf16"`` where the device computes bfloat16 natively, else ``"fp32"``.

    Native: a CUDA GPU that supports bf16, or a CPU with AMX or AVX-512 BF16 (read from
    ``/proc/cpuinfo``). Elsewhere bf16 is emulated and slower than fp32.
    """
    device = torch.device(device or "cpu")
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    if device.type != "cpu":
        return "fp32"
    return "bf16" if cpu_flags() & {"amx_bf16", "avx512_bf16"} else "fp32"


def resolve_precision(
    precision: str, device: str | torch.device | None = None, auto_bf16: bool = True
) -> str:
    """The precision a network runs in: ``precision`` itself, or for ``"auto"`` the value of
    ``$FACEPRINT_PRECISION`` where set (``bf16`` or ``fp32``), else :func:`native_precision`;
    ``"auto"`` becomes fp32 instead of bf16 for a model that does not allow it.

    Args:
        precision: one of :data:`PRECISIONS`.
        device: the device the network runs on.
        auto_bf16: whether ``"auto"`` may choose bf16 for this model (its record's
            ``auto_bf16``).

    Returns:
        ``"fp32"``, ``"bf16"`` or ``"int8"``.

    Raises:
        ValueError: an unknown precision, or an unknown value of ``$FACEPRINT_PRECISION``.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision != "auto":
        return precision
    resolved = forced_precision() or native_precision(device)
    return "fp32" if resolved == "bf16" and not auto_bf16 else resolved


def forced_precision() -> str | None:
    """What ``$FACEPRINT_PRECISION`` makes of ``"auto"``: ``"bf16"``, ``"fp32"``, or None where
    it is unset, empty or ``auto``.

    Raises:
        ValueError: any other value, naming the variable.
    """
    forced = os.environ.get(PRECISION_ENV, "").strip().lower() or "auto"
    if forced not in ("auto", "fp32", "bf16"):
        raise ValueError(
            f"{PRECISION_ENV}={os.environ[PRECISION_ENV]!r}: expected bf16, fp32 or auto"
        )
    return None if forced == "auto" else forced
