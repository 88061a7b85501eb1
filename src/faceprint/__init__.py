"""faceprint: face detection, alignment and recognition for PyTorch.

The facenet-pytorch names work unchanged (``from faceprint import MTCNN, InceptionResnetV1``);
faceprint's own are beside them:

- :func:`create_model`, :func:`list_models`, :func:`get_weights`: the model factory and its
  registry of pretrained weights;
- :class:`FaceRecognizer`: image -> faces -> embeddings, verification and identification;
- :class:`Alignment`: how faces are cut before embedding;
- :class:`Gallery`: a persistent, searchable gallery of known people;
- :func:`similarity`: how much identity generated images keep of reference images
  (``faceprint.losses.IdentityLoss`` is its differentiable twin, for training);
- :func:`optimize_for_inference`: a folded, channels-last copy of an embedder for fast inference.
"""

from faceprint.alignment import Alignment, extract_face, fixed_image_standardization, prewhiten
from faceprint.detection import MTCNN, ONet, PNet, RNet
from faceprint.errors import FaceprintError, ImageError, NoFaceError
from faceprint.gallery import Gallery
from faceprint.models import InceptionResnetV1
from faceprint.models.inference import optimize_for_inference
from faceprint.pipeline import Face, FaceRecognizer, Verification
from faceprint.weights.factory import create_model, get_weights, list_models, save_model

__version__ = "0.1.0"


def __getattr__(name: str):
    # Loaded on first use: evaluation imports scikit-learn, which `import faceprint` should not.
    if name in ("similarity", "SimilarityReport"):
        from faceprint.evaluation import similarity as module

        return getattr(module, name)
    raise AttributeError(f"module 'faceprint' has no attribute {name!r}")


__all__ = [
    "MTCNN",
    "Alignment",
    "Face",
    "FaceRecognizer",
    "FaceprintError",
    "Gallery",
    "ImageError",
    "InceptionResnetV1",
    "NoFaceError",
    "ONet",
    "PNet",
    "RNet",
    "SimilarityReport",
    "Verification",
    "create_model",
    "extract_face",
    "fixed_image_standardization",
    "get_weights",
    "list_models",
    "optimize_for_inference",
    "prewhiten",
    "save_model",
    "similarity",
]
