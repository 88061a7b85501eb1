"""Who is this? A persistent face gallery (SQLite records + FAISS or Milvus vectors) and clustering."""

from faceprint.gallery.cluster import cluster_embeddings
from faceprint.gallery.gallery import UNKNOWN, EnrollReport, Gallery, Identification, Match
from faceprint.errors import GalleryError, ModelMismatchError

__all__ = [
    "UNKNOWN",
    "EnrollReport",
    "Gallery",
    "GalleryError",
    "Identification",
    "Match",
    "ModelMismatchError",
    "cluster_embeddings",
]
