"""Several embedders as one: embedding-level fusion by weighted concatenation.

Each member embeds its own crop of the face (its own alignment and standardization); the
ensemble's embedding is the concatenation of the members' unit embeddings, each scaled by its
weight, re-normalised to unit length. The squared distance between two such embeddings is the
weighted mean of the members' squared distances (``sum w_i^2 d_i^2 / sum w_i^2``), so galleries,
thresholds and FAISS indexes treat an ensemble like any single model.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F


def fuse_embeddings(embeddings: Sequence[torch.Tensor], weights: Sequence[float]) -> torch.Tensor:
    """Concatenate unit embeddings scaled by ``weights``, re-normalised.

    Args:
        embeddings: one ``(B, D_i)`` unit-norm tensor per member.
        weights: one non-negative weight per member.

    Returns:
        ``(B, sum D_i)`` unit-norm embeddings.
    """
    if len(embeddings) != len(weights):
        raise ValueError(f"{len(embeddings)} embeddings for {len(weights)} weights")
    scaled = [e * float(w) for e, w in zip(embeddings, weights, strict=True)]
    return F.normalize(torch.cat(scaled, dim=1), p=2, dim=1)


class EmbeddingEnsemble(nn.Module):
    """Member embedders fused at the embedding level (:func:`fuse_embeddings`).

    Args:
        members: the member networks, each mapping its standardized crops to unit embeddings.
        weights: one weight per member.
    """

    def __init__(self, members: Sequence[nn.Module], weights: Sequence[float]) -> None:
        super().__init__()
        if len(members) != len(weights) or len(members) < 2:
            raise ValueError("an ensemble needs two or more members, one weight each")
        self.members = nn.ModuleList(members)
        self.fusion_weights = tuple(float(w) for w in weights)

    @property
    def embedding_size(self) -> int:
        """Length D of the fused embeddings: the sum of the members'."""
        return sum(int(m.embedding_size) for m in self.members)

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        """One ``(B, 3, S_i, S_i)`` standardized crop batch per member to ``(B, D)`` unit
        embeddings."""
        if len(inputs) != len(self.members):
            raise ValueError(f"{len(inputs)} inputs for {len(self.members)} members")
        embeddings = [member(x) for member, x in zip(self.members, inputs, strict=True)]
        return fuse_embeddings(embeddings, self.fusion_weights)
