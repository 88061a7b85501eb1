"""faceprint: face detection, alignment and recognition for PyTorch.

The facenet-pytorch names work unchanged (``from faceprint import MTCNN, InceptionResnetV1``).
"""

from faceprint.alignment import extract_face, fixed_image_standardization, prewhiten
from faceprint.detection import MTCNN, ONet, PNet, RNet
from faceprint.models import InceptionResnetV1

__version__ = "0.1.0"

__all__ = [
    "MTCNN",
    "InceptionResnetV1",
    "ONet",
    "PNet",
    "RNet",
    "extract_face",
    "fixed_image_standardization",
    "prewhiten",
]
