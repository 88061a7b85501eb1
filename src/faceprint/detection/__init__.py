"""Face detection: the Detector interface and registry, MTCNN and its networks, CenterFace."""

from faceprint.detection.base import Detections, Detector, ScoreCalibration
from faceprint.detection.centerface import CenterFace
from faceprint.detection.fused import FusedDetector
from faceprint.detection.mtcnn import MTCNN
from faceprint.detection.nets import ONet, PNet, RNet
from faceprint.detection.registry import create_detector, list_detectors, register_detector

__all__ = [
    "MTCNN",
    "CenterFace",
    "Detections",
    "Detector",
    "FusedDetector",
    "ONet",
    "PNet",
    "RNet",
    "ScoreCalibration",
    "create_detector",
    "list_detectors",
    "register_detector",
]
