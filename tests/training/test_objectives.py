"""Weight imprinting on real embeddings: the imprinted head classifies as the nearest centre."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from faceprint import create_model
from faceprint.training.data import CropDataset, scan_folder
from faceprint.training.objectives import (
    IMPRINT_SCALE,
    class_centres,
    imprint_head,
    make_objective,
    nearest_centre_top1,
)


def _features(crops):
    folder = scan_folder(crops)
    model = create_model("ms-celeb-1m").eval()
    data = CropDataset(folder, model.weights.standardization)
    x = torch.stack([data[i][0] for i in range(len(folder.paths))])
    with torch.inference_mode():
        return model.features(x), torch.as_tensor(folder.labels)


def test_imprinted_heads_classify_as_the_nearest_centre(crops):
    features, labels = _features(crops)
    train, val = torch.arange(len(labels)) % 3 != 0, torch.arange(len(labels)) % 3 == 0
    centres = class_centres(features[train], labels[train], 5)
    assert torch.allclose(centres.norm(dim=1), torch.ones(5))
    nearest = (F.normalize(features[val], dim=1) @ centres.T).argmax(1)
    assert nearest_centre_top1(features[val], labels[val], centres) == float(
        (nearest == labels[val]).float().mean()
    )

    head = nn.Linear(features.shape[1], 5)
    imprint_head(head, centres, features[train])
    logits = head(features[val])
    assert torch.equal(logits.argmax(1), nearest)
    cosine = F.normalize(features[val], dim=1) @ centres.T
    ratio = logits / cosine / features[val].norm(dim=1, keepdim=True)
    scale = IMPRINT_SCALE / features[train].norm(dim=1).median()
    assert torch.allclose(ratio, scale.expand_as(ratio), rtol=1e-4)

    arcface = make_objective("arcface", 5, features.shape[1], head)
    arcface.imprint(centres)
    assert torch.equal(arcface.logits(features[val]).argmax(1), nearest)
    assert torch.allclose(arcface.centres(), centres, atol=1e-6)
    assert np.isclose(nearest_centre_top1(features[val], labels[val], centres), 1.0)
