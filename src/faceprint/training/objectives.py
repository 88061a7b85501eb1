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
#: An imprinted softmax head gives logits of about this times the cosine to each person's
#: centre (NormFace's scale, Wang et al. 2017): confident on the training photos without
#: saturating the loss, so the first steps still move the embedding.
IMPRINT_SCALE = 16.0


def class_centres(features: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """Each person's centre: the normalised mean of their unit features.

    Args:
        features: ``(N, D)`` features (any norm).
        labels: ``(N,)`` int64 class indices in ``[0, num_classes)``.
        num_classes: C.

    Returns:
        ``(C, D)`` unit rows (a zero row for a class without features).
    """
    unit = F.normalize(features.float(), dim=1)
    sums = torch.zeros(num_classes, unit.shape[1]).index_add_(0, labels.cpu(), unit.cpu())
    return F.normalize(sums, dim=1)


def nearest_centre_top1(features: torch.Tensor, labels, centres: torch.Tensor) -> float:
    """Top-1 in [0, 1] of ``(N, D)`` ``features`` classified by their nearest ``(C, D)`` unit
    centre (the largest cosine), against ``(N,)`` labels."""
    guess = (F.normalize(features.float(), dim=1).cpu() @ centres.T).argmax(1)
    return float((guess == torch.as_tensor(labels)).float().mean())


def imprint_head(
    head: nn.Linear, centres: torch.Tensor, features: torch.Tensor, scale: float = IMPRINT_SCALE
) -> None:
    """Set a linear head over (not normalised) features to ``scale`` times each ``(C, D)`` unit
    centre over the median norm of the ``(N, D)`` ``features``, with zero bias (weight
    imprinting, Qi et al. 2018).

    Its logits are then about ``scale`` times the cosine to each centre, and its argmax is the
    nearest centre exactly: a feature's own norm scales every logit alike.
    """
    norm = features.float().norm(dim=1).median().clamp_min(1e-6)
    with torch.no_grad():
        head.weight.copy_((centres * (scale / norm)).to(head.weight))
        head.bias.zero_()


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

    def imprint(self, centres: torch.Tensor) -> None:
        """Start each class's weight at its ``(C, D)`` unit centre (weight imprinting; the loss
        normalises its weights, so no scale is needed): with a pretrained model the margin then
        refines good centres instead of learning them from random ones."""
        with torch.no_grad():
            self.loss.W.copy_(centres.T.to(self.loss.W))

    def centres(self) -> torch.Tensor:
        """``(C, D)`` unit class weights: what its logits measure the cosine to."""
        return F.normalize(self.loss.W.detach().float().T, dim=1).cpu()


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
