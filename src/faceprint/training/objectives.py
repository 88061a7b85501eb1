"""What a training run minimises: softmax, ArcFace or triplet loss on the model's features.

Each objective takes the bottleneck features ``(B, D)`` (before L2 normalisation) and the
``(B,)`` labels, returns the scalar loss, and can say, for validation, which class each
feature belongs to. ArcFace and the semi-hard triplet miner come from pytorch-metric-learning,
whose implementations follow the papers.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

LOSSES = ("softmax", "arcface", "triplet")
#: FaceNet's margin (Schroff et al. 2015, alpha = 0.2 on unit embeddings).
TRIPLET_MARGIN = 0.2


class Objective(nn.Module):
    """A loss over ``(B, D)`` features and ``(B,)`` labels, with a class predictor."""

    #: Whether batches must hold several images of each person (triplets need positives).
    needs_pairs = False

    def logits(self, features: torch.Tensor) -> torch.Tensor | None:
        """``(B, C)`` class scores, or None where the objective learns no classifier."""
        return None


class Softmax(Objective):
    """Cross-entropy on a linear head over the features: facenet-pytorch's ``classify=True``
    recipe. The head is the model's own ``logits`` layer."""

    def __init__(self, head: nn.Linear) -> None:
        super().__init__()
        self.head = head

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(self.head(features), labels)

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features)


class ArcFace(Objective):
    """Additive angular margin (Deng et al. 2019) on unit embeddings: margin 0.5 rad (28.6
    degrees), scale 64."""

    def __init__(self, num_classes: int, embedding_size: int) -> None:
        super().__init__()
        from pytorch_metric_learning.losses import ArcFaceLoss

        self.loss = ArcFaceLoss(num_classes, embedding_size, margin=28.6, scale=64)

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.loss(F.normalize(features.float(), dim=1), labels)

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        return self.loss.get_logits(F.normalize(features.float(), dim=1))

    def imprint(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        """Start each class's weight at the mean direction of its ``(N, D)`` features
        (weight imprinting): with a pretrained model the margin then refines good centres
        instead of learning them from random ones."""
        unit = F.normalize(features.float(), dim=1)
        sums = torch.zeros(self.loss.W.shape[1], unit.shape[1]).index_add_(0, labels, unit)
        with torch.no_grad():
            self.loss.W.copy_(F.normalize(sums, dim=1).T)


class Triplet(Objective):
    """Triplet loss on unit embeddings with online semi-hard mining (Schroff et al. 2015):
    negatives farther than the positive but within the margin."""

    needs_pairs = True

    def __init__(self) -> None:
        super().__init__()
        from pytorch_metric_learning.losses import TripletMarginLoss
        from pytorch_metric_learning.miners import TripletMarginMiner

        self.miner = TripletMarginMiner(margin=TRIPLET_MARGIN, type_of_triplets="semihard")
        self.loss = TripletMarginLoss(margin=TRIPLET_MARGIN)

    def forward(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        embeddings = F.normalize(features.float(), dim=1)
        return self.loss(embeddings, labels, self.miner(embeddings, labels))


def make_objective(name: str, num_classes: int, embedding_size: int, head: nn.Linear) -> Objective:
    """The objective called ``name`` (one of :data:`LOSSES`)."""
    if name == "softmax":
        return Softmax(head)
    if name == "arcface":
        return ArcFace(num_classes, embedding_size)
    if name == "triplet":
        return Triplet()
    raise ValueError(f"loss must be one of {', '.join(LOSSES)}, got {name!r}")
