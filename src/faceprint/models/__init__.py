"""Face embedding models."""

from faceprint.models.inception_resnet_v1 import InceptionResnetV1

__all__ = ["InceptionResnetV1"]
