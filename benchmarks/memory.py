"""Peak memory (RSS) of detection on a 4000x3000 photo and of embedding at batch 256, each in a
fresh process, for faceprint and facenet-pytorch 2.6.0.

    python benchmarks/memory.py
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

WORK = {
    "detect": """
import numpy as np, torch
from PIL import Image
from common import DATA
img = Image.open(DATA / "samples" / "multiface.jpg").convert("RGB")
img = img.resize((4000, 3000), Image.BILINEAR)
{make}
torch.set_grad_enabled(False)
boxes = model.detect(img)[0]
found = 0 if boxes is None else len(boxes)
""",
    "embed": """
import torch
{make}
torch.set_grad_enabled(False)
with torch.inference_mode():
    out = model(torch.randn(256, 3, 160, 160))
found = out.shape[0]
""",
}

MAKERS = {
    ("detect", "faceprint"): "from faceprint import MTCNN; model = MTCNN(keep_all=True)",
    (
        "detect",
        "facenet-pytorch",
    ): "from facenet_pytorch import MTCNN; model = MTCNN(keep_all=True)",
    ("embed", "faceprint"): "from faceprint import InceptionResnetV1\n"
    "from faceprint.models.inference import optimize_for_inference\n"
    "model = optimize_for_inference(InceptionResnetV1(embedding_size=512).eval())",
    (
        "embed",
        "facenet-pytorch",
    ): "from facenet_pytorch import InceptionResnetV1; model = InceptionResnetV1().eval()",
}


def measure(work: str, who: str) -> dict:
    code = (
        f"import sys, json; sys.path.insert(0, {str(HERE)!r})\n"
        + WORK[work].format(make=MAKERS[(work, who)])
        + "from common import peak_rss_mb\n"
        + "print(json.dumps({'peak_mb': peak_rss_mb(), 'found': int(found)}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    print(f"{'work':<36} {'faceprint':>12} {'facenet-pytorch':>16}")
    for work, label in (("detect", "detect, 4000x3000 photo"), ("embed", "embed, batch 256")):
        ours, theirs = measure(work, "faceprint"), measure(work, "facenet-pytorch")
        print(
            f"{label:<36} {ours['peak_mb']:>9.0f} MiB {theirs['peak_mb']:>13.0f} MiB   "
            f"({ours['found']} vs {theirs['found']})"
        )


if __name__ == "__main__":
    main()
