"""Detectors by name: ``create_detector("centerface", min_face_size=40)``, timm-style.

Each detector's module registers a builder with :func:`register_detector`, together with its
:class:`~faceprint.detection.base.ScoreCalibration`; ``"a+b"`` names a
:class:`~faceprint.detection.fused.FusedDetector` of registered detectors. The builders run
when :mod:`faceprint.detection` is imported (which importing this module does first).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from faceprint.detection.base import IDENTITY, Detector, ScoreCalibration
from faceprint.detection.fused import FusedDetector
from faceprint.errors import UnknownModelError

#: Joins the members of a fused detector's name: ``"mtcnn+centerface"``.
FUSED_SEPARATOR = "+"
#: Options a fused detector hands to each of its members; the others are its own.
MEMBER_OPTIONS = ("min_face_size", "input_scale", "device", "backend")
#: Default settings of fused detectors, by their set of members: each member's own options
#: (under its name) and the fused detector's (the rest). Tuned on the tuning scenes of
#: ``benchmarks/detection_recall.py``; docs/benchmarks.md has the report scenes' figures.
FUSED_DEFAULTS: dict[frozenset[str], dict[str, Any]] = {
    frozenset({"mtcnn", "centerface"}): {
        "mtcnn": {"score_threshold": 0.7},
        "centerface": {"score_threshold": 0.2},
        # CenterFace's own default threshold, 0.35, on the calibrated scale: a face scoring
        # below what either member reports alone needs the other member (MTCNN's faces, from
        # 0.7, calibrate to 0.007 and stand alone).
        "agreement_below": 0.0042,
    },
}


@dataclass(frozen=True)
class DetectorEntry:
    """A registered detector: its builder and the calibration of its scores."""

    name: str
    build: Callable[..., Detector]
    calibration: ScoreCalibration


_DETECTORS: dict[str, DetectorEntry] = {}


def register_detector(
    name: str, calibration: ScoreCalibration = IDENTITY
) -> Callable[[Callable[..., Detector]], Callable[..., Detector]]:
    """Decorator: register ``build(**options) -> Detector`` under ``name``.

    Args:
        name: the registry name (no ``"+"``), which the built detector's ``name`` must equal.
        calibration: how its scores map onto the common scale of fused detectors.
    """
    if FUSED_SEPARATOR in name or not name:
        raise ValueError(f"a detector name must be non-empty and without {FUSED_SEPARATOR!r}")

    def register(build: Callable[..., Detector]) -> Callable[..., Detector]:
        _DETECTORS[name] = DetectorEntry(name, build, calibration)
        return build

    return register


def list_detectors() -> list[str]:
    """The registered detectors' names, sorted (each can be joined with ``"+"`` into a fused
    detector)."""
    return sorted(_DETECTORS)


def detector_entry(name: str) -> DetectorEntry:
    """The registration of the single detector ``name``.

    Raises:
        UnknownModelError: no detector is registered under ``name``; the message lists those
            that are.
    """
    try:
        return _DETECTORS[name]
    except KeyError:
        raise UnknownModelError(
            f"unknown detector {name!r}; known: {', '.join(list_detectors())}, or two or more "
            f"of them joined with {FUSED_SEPARATOR!r} (e.g. 'mtcnn+centerface')"
        ) from None


def create_detector(name: str, **options: Any) -> Detector:
    """Build the detector called ``name`` with its constructor ``options``.

    Args:
        name: a name of :func:`list_detectors`, or several joined with ``"+"``: a
            :class:`~faceprint.detection.fused.FusedDetector` of them.
        options: the detector's options: ``min_face_size``, ``input_scale``,
            ``score_threshold``, ``device`` and any of its own (e.g. MTCNN's ``factor``). A
            fused detector hands ``min_face_size``, ``input_scale``, ``device`` and ``backend``
            to every member and keeps ``score_threshold`` (on the calibrated scale), ``nms_iou``,
            ``agreement_below`` and ``agreement_iou``; their defaults, and the members' own
            (e.g. their score thresholds), come from :data:`FUSED_DEFAULTS`.

    Raises:
        UnknownModelError: a name is not registered (the message lists those that are), or a
            fused name repeats a member.
    """
    if FUSED_SEPARATOR not in name:
        return detector_entry(name).build(**options)
    names = name.split(FUSED_SEPARATOR)
    entries = [detector_entry(n) for n in names]
    if len(set(names)) != len(names):
        raise UnknownModelError(f"fused detector {name!r} names a member twice")
    defaults = FUSED_DEFAULTS.get(frozenset(names), {})
    shared = {k: options.pop(k) for k in MEMBER_OPTIONS if k in options}
    members = [entry.build(**{**defaults.get(entry.name, {}), **shared}) for entry in entries]
    own = {k: v for k, v in defaults.items() if k not in names}
    return FusedDetector(members, [entry.calibration for entry in entries], **{**own, **options})
