"""How ``faceprint serve`` runs: its settings and their defaults, which the CLI's options
share. No web framework is imported here, so the CLI can read them without the extra."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from faceprint.gallery.core import DEFAULT_FAR
from faceprint.pipeline import DEFAULT_DETECTOR, DEFAULT_PRECISION, DEFAULT_VERIFY_FAR


@dataclass(frozen=True)
class ServeConfig:
    """How the service runs (``faceprint serve``'s options).

    Attributes:
        gallery: the gallery for identify and enrolment, a file or a ``postgresql://`` URL;
            None serves detect, embed and verify only.
        library: a photo library folder (``faceprint library scan``) whose people the
            ``/v1/library`` routes and the review page at ``/library`` show and change.
        vectors: Milvus URI of the gallery's vectors (default: its FAISS index).
        keys: the keys file; None serves without keys (only sensible on 127.0.0.1).
        model: embedding model; None takes the gallery's, else the default.
        align: alignment method of a new gallery and of the recognizer; None: the gallery's,
            else the model's own.
        device: torch device.
        detector: the face detector's registry name (``mtcnn``, ``centerface``, or fused
            names such as ``mtcnn+centerface``).
        min_face_size: the smallest face searched for, in pixels of the image the detector
            sees (reduced to ``detect_pixels``); None: the detector's own default.
        precision: ``auto``, ``fp32``, ``bf16`` or ``int8``.
        backend: ``torch`` or ``onnxruntime``.
        calibration: ``precision="int8"``: face photos that set the quantization ranges (the
            int8 model is built once per set of photos).
        max_bytes: largest request body, in bytes.
        max_pixels: largest image, in pixels (judged from its header, before decoding).
        detect_pixels: larger images are reduced to this many pixels as they are decoded; the
            faces are found and embedded there, and their boxes and landmarks given in the
            upload's own pixels.
        pixel_budget: decoded pixels all requests in flight may hold together (each holds its
            images' declared size while decoding, then their reduced size); a request with no
            room waits a few seconds, then gets 503.
        body_timeout: seconds a request body has to arrive (408 beyond).
        read_only: serve the gallery without enrolment and removal (403).
        rate: requests a second per key (per client address without keys); None: no limit.
        batch_size: most images per network batch.
        batch_wait: seconds to wait for more requests to batch with; 0 turns batching off.
        queue_size: most requests waiting for the networks; beyond it the answer is 503.
        far: open-set false-alarm rate of identification.
        open_set: how identification finds a face to be nobody enrolled: ``"distance"`` or
            ``"margin"`` (:data:`faceprint.gallery.core.OPEN_SET_DECISIONS`).
        verify_far: false-accept rate of the verification threshold.
    """

    gallery: Path | str | None = None
    library: Path | None = None
    vectors: str | None = None
    keys: Path | None = None
    model: str | None = None
    align: str | None = None
    device: str | None = None
    detector: str = DEFAULT_DETECTOR
    min_face_size: float | None = None
    precision: str = DEFAULT_PRECISION
    backend: str = "torch"
    calibration: Path | None = None
    max_bytes: int = 10_000_000
    max_pixels: int = 40_000_000
    detect_pixels: int = 4_000_000
    pixel_budget: int = 120_000_000
    body_timeout: float = 30.0
    read_only: bool = False
    rate: float | None = None
    batch_size: int = 32
    batch_wait: float = 0.005
    queue_size: int = 64
    far: float = DEFAULT_FAR
    open_set: str = "distance"
    verify_far: float = DEFAULT_VERIFY_FAR
