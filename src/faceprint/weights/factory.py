"""One factory for every model faceprint knows: ``create_model(name_or_path)``.

A registry record (:mod:`faceprint.weights.registry`) names an architecture; the factory builds
that architecture from :data:`ARCHITECTURES` and loads the record's weights into it. A record
can also come from a *faceprint model file*, a ``torch.save``\\ d dict holding the record beside
its state dict (:func:`save_model`), so a model you trained loads by its path wherever a
registry name is accepted.

Imports run one way: this module imports :mod:`faceprint.models` and
:mod:`faceprint.detection.nets`; they load their weights through
:mod:`faceprint.weights.loading`, which imports no model.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from faceprint.errors import UnknownModelError
from faceprint.weights.fetch import weights_path
from faceprint.weights.loading import (
    get_weights,
    list_models,
    load_pretrained,
    model_file_tensors,
    save_model,
)
from faceprint.weights.registry import Weights

__all__ = [
    "ARCHITECTURES",
    "create_model",
    "fetch_weights",
    "get_weights",
    "list_models",
    "load_pretrained",
    "model_file_tensors",
    "save_model",
]


def _inception_resnet_v1(record: Weights, **kwargs: Any) -> nn.Module:
    from faceprint.models.inception_resnet_v1 import InceptionResnetV1

    return InceptionResnetV1(pretrained=record, **kwargs)


def _dlib_resnet(record: Weights, **kwargs: Any) -> nn.Module:
    from faceprint.models.dlib_resnet import DlibResNet

    return DlibResNet(pretrained=record, **kwargs)


def _mobilefacenet(record: Weights, **kwargs: Any) -> nn.Module:
    from faceprint.models.mobilefacenet import MobileFaceNet

    model = MobileFaceNet(**kwargs)
    model.weights = record
    return load_pretrained(model, record)


def _faceres_embedder(record: Weights, **kwargs: Any) -> nn.Module:
    from faceprint.models.faceres_embedder import FaceResEmbedder

    model = FaceResEmbedder(**kwargs)
    model.weights = record
    return load_pretrained(model, record)


def _attribute_net(class_name: str) -> Callable[..., nn.Module]:
    def build(record: Weights, **kwargs: Any) -> nn.Module:
        from faceprint.models import attribute_nets

        return load_pretrained(getattr(attribute_nets, class_name)(**kwargs), record)

    return build


def _ensemble(record: Weights, **kwargs: Any) -> nn.Module:
    from faceprint.models.ensemble import EmbeddingEnsemble

    members = [create_model(name, **kwargs) for name in record.members]
    return EmbeddingEnsemble(members, record.member_weights).eval()


def _mtcnn_stage(stage: str) -> Callable[..., nn.Module]:
    def build(record: Weights, **kwargs: Any) -> nn.Module:
        from faceprint.detection import nets

        return getattr(nets, stage)(pretrained=record, **kwargs)

    return build


def _centerface(record: Weights, **kwargs: Any) -> nn.Module:
    from faceprint.detection.centerface import CenterFaceNet

    return CenterFaceNet(pretrained=record, **kwargs)


#: Builders by a record's ``architecture``: ``build(record, **kwargs)`` returns the module with
#: the record's weights loaded.
ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "inception_resnet_v1": _inception_resnet_v1,
    "dlib_resnet": _dlib_resnet,
    "mobilefacenet": _mobilefacenet,
    "faceres": _attribute_net("FaceRes"),
    "faceres_embedder": _faceres_embedder,
    "emotion_net": _attribute_net("EmotionNet"),
    "ensemble": _ensemble,
    "pnet": _mtcnn_stage("PNet"),
    "rnet": _mtcnn_stage("RNet"),
    "onet": _mtcnn_stage("ONet"),
    "centerface": _centerface,
}


def create_model(
    name_or_path: str | os.PathLike | Weights,
    weights_path: str | os.PathLike | None = None,
    device: str | torch.device | None = None,
    **kwargs: Any,
) -> nn.Module:
    """Build the architecture a record names and load its weights, in eval mode.

    Args:
        name_or_path: a registry name, a faceprint model file, or a record.
        weights_path: load the state dict from this file instead of the record's sources.
        device: where to put the model.
        **kwargs: passed to the architecture, e.g. ``classify=True`` or ``num_classes=100``
            for Inception-ResNet-v1.

    Returns:
        The module, e.g. :class:`faceprint.InceptionResnetV1` or an MTCNN stage.

    Raises:
        UnknownModelError: unknown name, or a record whose architecture has no builder.
        WeightsError: the weights cannot be found, fetched, verified or loaded.
    """
    record = get_weights(name_or_path)
    build = ARCHITECTURES.get(record.architecture)
    if build is None:
        raise UnknownModelError(
            f"{record.name!r} names architecture {record.architecture!r}, which this faceprint "
            f"cannot build; known: {', '.join(sorted(ARCHITECTURES))}"
        )
    if weights_path is not None:
        record = dataclasses.replace(record, path=os.fspath(weights_path))
    model = build(record, **kwargs)
    if device is not None:
        model.to(device)
    return model


def fetch_weights(name_or_path: str | os.PathLike | Weights, progress: bool = True) -> Path:
    """The verified local file of a model's weights, fetched (and converted) where needed.

    Raises:
        UnknownModelError: unknown name.
        WeightsError: the weights cannot be found, fetched or verified.
    """
    record = get_weights(name_or_path)
    create_model(record)  # a converted record is converted into the module it is for
    return weights_path(record, progress=progress)
