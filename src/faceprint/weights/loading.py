"""Records and the weights they name, loaded into a module: :func:`get_weights` finds a record
(a registry name, an ensemble of names, or a faceprint model file), :func:`load_pretrained` fills
a module with its verified weights, :func:`save_model` writes a module and its record as a file.

Nothing here imports a model: the modules arrive as arguments, so the models can call
:func:`load_pretrained` themselves (``InceptionResnetV1(pretrained="vggface2")``) while
:mod:`faceprint.weights.factory` builds them by architecture.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from faceprint.errors import WeightsError
from faceprint.files import atomic_path
from faceprint.weights.fetch import MODEL_FILE_FORMAT, load_state_dict
from faceprint.weights.registry import (
    ENSEMBLE_SEPARATOR,
    REGISTRY,
    DetectorCalibration,
    MarginCalibration,
    PipMember,
    Weights,
    registered,
)


def get_weights(name_or_path: str | os.PathLike | Weights) -> Weights:
    """The record of a registry name, or of a faceprint model file.

    Args:
        name_or_path: a registry name (``"ms-celeb-1m"``), an ensemble of registered models
            (``"ms-celeb-1m+dlib-resnet-v1"``), the path of a file written by
            :func:`save_model`, or a record (returned as it is).

    Raises:
        UnknownModelError: neither a registry name nor an existing file.
        WeightsError: the file is not a faceprint model file.
    """
    if isinstance(name_or_path, Weights):
        return name_or_path
    name = os.fspath(name_or_path)
    if name in REGISTRY:
        return REGISTRY[name]
    if ENSEMBLE_SEPARATOR in name and not Path(name).expanduser().is_file():
        return registered(name)
    path = Path(name).expanduser()
    if path.is_file():
        return _read_record(path)
    return registered(name)  # raises UnknownModelError, listing the names


def list_models(architecture: str | None = None) -> list[str]:
    """Registry names, optionally only those of one ``architecture``."""
    return [w.name for w in REGISTRY.values() if architecture in (None, w.architecture)]


def pretrained_record(
    name: str, pretrained: bool | str | os.PathLike | Weights | None
) -> Weights | None:
    """What a module's ``pretrained=`` argument names: ``True`` the registry record ``name``, a
    path that record with its file replaced, a record itself; ``False``/``None`` nothing."""
    if pretrained is False or pretrained is None:
        return None
    if pretrained is True:
        return get_weights(name)
    if isinstance(pretrained, (str, os.PathLike)):
        return dataclasses.replace(get_weights(name), path=os.fspath(pretrained))
    return pretrained


def load_pretrained(module: nn.Module, record: Weights, progress: bool = True) -> nn.Module:
    """Load ``record``'s weights into ``module`` (``strict=True``) and put it in eval mode.

    Raises:
        WeightsError: the file cannot be found, fetched or verified, or its tensors do not fit
            the module (the message names the first mismatching keys).
    """
    state = load_state_dict(record, progress=progress, target=module)
    try:
        module.load_state_dict(state)
    except RuntimeError as exc:
        raise WeightsError(
            f"the weights of {record.name!r} do not fit {type(module).__name__}: "
            f"{str(exc).splitlines()[0]} {_first_lines(exc)}"
        ) from None
    return module.eval()


def save_model(
    model: nn.Module,
    path: str | os.PathLike,
    record: Weights,
    tensors: Mapping[str, torch.Tensor] | None = None,
    **changes: Any,
) -> Weights:
    """Write ``model``'s state dict with its record, as a file :func:`create_model` loads.

    Args:
        model: the module; its architecture must be ``record.architecture``.
        path: the file to write (atomically).
        record: the record to store, e.g. the base model's; ``changes`` replace fields of it
            (``name``, ``num_classes``, ``thresholds``, ...).
        tensors: named tensors kept beside the weights (:func:`model_file_tensors` reads them),
            e.g. a trained model's class centres.

    Returns:
        The stored record, pointing at ``path``.
    """
    stored = dataclasses.replace(
        record,
        sha256=None,
        size=None,
        url=None,
        pip=None,
        npm=None,
        converter=None,
        path=None,
        **changes,
    )
    fields = dataclasses.asdict(stored)
    fields["alignment"] = {k: dict(v) for k, v in stored.alignment.items()}
    fields["thresholds"] = dict(stored.thresholds)
    fields["impostor_distances"] = {k: list(v) for k, v in stored.impostor_distances.items()}
    fields["open_set_exponent"] = dict(stored.open_set_exponent)
    fields["detector_calibrations"] = {
        detector: {align: dataclasses.asdict(c) for align, c in entries.items()}
        for detector, entries in stored.detector_calibrations.items()
    }
    fields["open_set_margin"] = {
        align: dataclasses.asdict(m) for align, m in stored.open_set_margin.items()
    }
    payload = {
        "format": MODEL_FILE_FORMAT,
        "record": fields,
        "state_dict": model.state_dict(),
        "tensors": dict(tensors or {}),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return dataclasses.replace(stored, path=os.fspath(path))


def model_file_tensors(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The named tensors a model file keeps beside its weights (``{}`` where it has none)."""
    payload = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    return dict(payload.get("tensors", {})) if isinstance(payload, dict) else {}


def _read_record(path: Path) -> Weights:
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # torch raises many unrelated types for a foreign file
        raise WeightsError(
            f"{path} is not a faceprint model file ({type(exc).__name__}: {exc})"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != MODEL_FILE_FORMAT:
        raise WeightsError(
            f"{path} is not a faceprint model file (no {MODEL_FILE_FORMAT!r} record); for a bare "
            f"state dict pass the registry name of its architecture and weights_path={str(path)!r}"
        )
    fields = dict(payload["record"])
    pip = fields.pop("pip", None)
    fields.pop("npm", None)
    fields["impostor_distances"] = {
        k: tuple(v) for k, v in fields.get("impostor_distances", {}).items()
    }
    fields["classes"] = tuple(fields.get("classes", ()))
    fields["detector_calibrations"] = {
        detector: {align: _calibration(c) for align, c in entries.items()}
        for detector, entries in fields.get("detector_calibrations", {}).items()
    }
    fields["open_set_margin"] = {
        align: _margin(m) for align, m in fields.get("open_set_margin", {}).items()
    }
    known = {f.name for f in dataclasses.fields(Weights)}
    record = Weights(**{k: v for k, v in fields.items() if k in known})
    return dataclasses.replace(
        record, pip=None if pip is None else PipMember(**pip), path=os.fspath(path)
    )


def _margin(fields: dict | None) -> MarginCalibration | None:
    """A stored :class:`MarginCalibration` (a dict in the file, or None)."""
    if fields is None:
        return None
    rows = tuple(tuple(float(t) for t in row) for row in fields["thresholds"])
    return MarginCalibration(beta=float(fields["beta"]), thresholds=rows)


def _calibration(fields: dict) -> DetectorCalibration:
    """A stored :class:`DetectorCalibration` (a dict in the file)."""
    impostors = fields.get("impostor_distances")
    return DetectorCalibration(
        **{
            **fields,
            "impostor_distances": None if impostors is None else tuple(impostors),
            "alignment": dict(fields.get("alignment", {})),
            "margin": _margin(fields.get("margin")),
        }
    )


def _first_lines(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines()[1:3] if line.strip()]
    return " ".join(lines)
