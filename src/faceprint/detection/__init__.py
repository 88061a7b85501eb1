"""Face detection: the MTCNN cascade and its networks."""

from faceprint.detection.mtcnn import MTCNN
from faceprint.detection.nets import ONet, PNet, RNet

__all__ = ["MTCNN", "ONet", "PNet", "RNet"]
