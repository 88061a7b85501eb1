"""Who is this? A persistent face gallery (SQLite or PostgreSQL records + FAISS or Milvus
vectors) and clustering."""

from faceprint.errors import GalleryError, ModelMismatchError
from faceprint.gallery.cluster import cluster_embeddings
from faceprint.gallery.enroll import EnrollReport, enroll
from faceprint.gallery.gallery import UNKNOWN, Gallery, Identification, Match

__all__ = [
    "UNKNOWN",
    "EnrollReport",
    "Gallery",
    "GalleryError",
    "Identification",
    "Match",
    "ModelMismatchError",
    "cluster_embeddings",
    "enroll",
]
