"""optimize_for_inference keeps the answers of the model it folds."""

from __future__ import annotations

import pytest
import torch

from faceprint import InceptionResnetV1
from faceprint.models.inference import optimize_for_inference


@pytest.mark.parametrize("channels_last", [True, False])
def test_folded_model_matches(channels_last):
    torch.manual_seed(0)
    model = InceptionResnetV1().eval()
    for module in model.modules():
        if isinstance(module, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 1.5)
            module.weight.data.uniform_(0.5, 1.5)
    fast = optimize_for_inference(model, channels_last=channels_last)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in fast.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()), (
        "the original is untouched"
    )
    x = torch.randn(3, 3, 160, 160)
    with torch.inference_mode():
        torch.testing.assert_close(fast(x), model(x), atol=2e-5, rtol=1e-4)


def test_bf16_pipeline_stays_close(lfw):
    from faceprint.pipeline import FaceRecognizer

    path = lfw / "images" / "Colin_Powell" / "Colin_Powell_0001.jpg"
    fp32 = FaceRecognizer(model="ms-celeb-1m").embed(path)[0].embedding
    bf16 = FaceRecognizer(model="ms-celeb-1m", precision="bf16").embed(path)[0].embedding
    # Far below the ~1.1 same-person threshold, yet not identical: bf16 really ran.
    assert 0 < float(((fp32 - bf16) ** 2).sum() ** 0.5) < 0.05
