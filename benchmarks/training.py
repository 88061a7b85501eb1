"""Training speed, faceprint vs facenet-pytorch 2.6.0's ``finetune.ipynb`` recipe, one run.

    python scripts/train_lfw.py --data ../shared/data/lfw     # makes the crops and the split
    python benchmarks/training.py [--epochs 2] [--same-work-images 768] [--only recipe|same-work]

Both start from the same weights (``ms-celeb-1m``, loaded into facenet-pytorch's own
InceptionResnetV1 with its bottleneck set to 128) and train on the same crops of the 115 LFW
people (70/30 split, seed 0), each in a fresh process (for its peak RSS):

- **recipe**: facenet-pytorch's notebook (whole network, Adam 1e-3, ``MultiStepLR([5, 10])``,
  cross-entropy, batch 32, ``training.pass_epoch``) against ``faceprint train``'s default
  (blocks up to ``repeat_3`` frozen and run once), ``--epochs`` each. Images per second count
  the whole job (model loading, every epoch, validation), so faceprint's one pass through the
  frozen blocks is paid for.
- **same work**: both train the whole network for one epoch on ``--same-work-images`` crops.

Prints images/s, validation top-1, peak RSS and the ratios.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

PEER = """
import json, time, numpy as np, torch
from torch import nn
from torchvision import datasets, transforms
from facenet_pytorch import InceptionResnetV1, training
from faceprint.alignment import prewhiten
from faceprint.weights.fetch import load_state_dict
from faceprint.weights.factory import get_weights
from common import peak_rss_mb
torch.manual_seed(0)
start = time.perf_counter()
transform = transforms.Compose([np.float32, transforms.ToTensor(), prewhiten])
train_set = datasets.ImageFolder({train!r}, transform=transform)
if {limit}:
    step = max(1, len(train_set) // {limit})
    train_set = torch.utils.data.Subset(train_set, list(range(0, len(train_set), step))[:{limit}])
val_set = datasets.ImageFolder({val!r}, transform=transform) if not {limit} else train_set
classes = len(datasets.ImageFolder({train!r}).classes)
model = InceptionResnetV1(classify=True, num_classes=classes)
model.last_linear = nn.Linear(1792, 128, bias=False)
model.last_bn = nn.BatchNorm1d(128, eps=0.001, momentum=0.1, affine=True)
model.logits = nn.Linear(128, classes)
loaded = model.load_state_dict(load_state_dict(get_weights("ms-celeb-1m")), strict=False)
assert sorted(loaded.missing_keys) == ["logits.bias", "logits.weight"], loaded
assert not loaded.unexpected_keys, loaded
optimizer = torch.optim.Adam(model.parameters(), lr=0.001)
scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, [5, 10])
loss_fn = torch.nn.CrossEntropyLoss()
train_loader = torch.utils.data.DataLoader(train_set, batch_size=32, shuffle=True, num_workers=2)
val_loader = torch.utils.data.DataLoader(val_set, batch_size=32, num_workers=2)
metrics = {{"fps": training.BatchTimer(), "acc": training.accuracy}}
for epoch in range({epochs}):
    model.train()
    training.pass_epoch(model, loss_fn, train_loader, optimizer, scheduler, batch_metrics=metrics)
    model.eval()
    with torch.no_grad():
        _, m = training.pass_epoch(model, loss_fn, val_loader, batch_metrics=metrics)
    top1 = float(m["acc"])
seconds = time.perf_counter() - start
images = len(train_set) * {epochs}
print(json.dumps({{"images": images, "seconds": seconds, "top1": top1, "rss": peak_rss_mb()}}))
"""

OURS = """
import json, os, tempfile, time, torch
from faceprint.training import TrainConfig, train
from common import peak_rss_mb
start = time.perf_counter()
with tempfile.TemporaryDirectory() as out:
    os.environ["FACEPRINT_TRAIN_CACHE"] = out + "/cache"  # the frozen pass is paid for
    summary = train(TrainConfig(data={train!r}, val={val!r}, cropped=True, out=out + "/run",
                                epochs={epochs}, freeze={freeze!r}, progress=False))
seconds = time.perf_counter() - start
print(json.dumps({{"images": summary["train_images"] * {epochs}, "seconds": seconds,
                   "top1": summary["val_top1"], "rss": peak_rss_mb()}}))
"""


def run(code: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=HERE, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit(result.stderr[-3000:])
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("~/.cache/faceprint/train_lfw"))
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--same-work-images", type=int, default=768)
    parser.add_argument("--only", choices=["recipe", "same-work"], help="run one row")
    args = parser.parse_args()
    split = args.work.expanduser() / "split"
    train_dir, val_dir = str(split / "train"), str(split / "val")
    if not (split / "train").is_dir():
        raise SystemExit(f"no split at {split}: run scripts/train_lfw.py first")
    sys.path.insert(0, str(HERE))
    import torch
    from common import cpu_path

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {cpu_path()}")
    rows = []
    for key, name, peer_limit, our_freeze, epochs in (
        ("recipe", "recipe (notebook vs faceprint default)", 0, "auto", args.epochs),
        (
            "same-work",
            f"same work (whole network, {args.same_work_images} crops)",
            args.same_work_images,
            "none",
            1,
        ),
    ):
        if args.only not in (None, key):
            continue
        fields = dict(train=train_dir, val=val_dir, epochs=epochs, limit=peer_limit)
        theirs = run(PEER.format(**fields))
        if peer_limit:
            limited = Path(args.work.expanduser() / f"subset-{peer_limit}")
            _subset(Path(train_dir), limited, peer_limit)
            fields["train"] = fields["val"] = str(limited)
        ours = run(OURS.format(freeze=our_freeze, **fields))
        rows.append((name, ours, theirs))
    print(f"{'work':<44} {'faceprint':>18} {'facenet-pytorch':>18} {'ratio':>7}")
    for name, ours, theirs in rows:
        ips_ours, ips_theirs = (
            ours["images"] / ours["seconds"],
            theirs["images"] / theirs["seconds"],
        )
        print(
            f"{name:<44} {ips_ours:>12.1f} img/s {ips_theirs:>12.1f} img/s "
            f"{ips_ours / ips_theirs:>6.2f}x"
        )
        print(f"{'':<44} top-1 {ours['top1']:>12.4f} {theirs['top1']:>18.4f}")
        print(f"{'':<44} peak RSS {ours['rss']:>6.0f} MiB {theirs['rss']:>12.0f} MiB")


def _subset(train: Path, out: Path, limit: int) -> None:
    """The same crops the peer takes with ``Subset`` (every k-th of ImageFolder's order)."""
    import os

    from torchvision import datasets

    samples = datasets.ImageFolder(str(train)).samples
    step = max(1, len(samples) // limit)
    for path, _ in samples[::step][:limit]:
        link = out / Path(path).parent.name / Path(path).name
        link.parent.mkdir(parents=True, exist_ok=True)
        if not link.exists():
            os.symlink(Path(path).resolve(), link)


if __name__ == "__main__":
    main()
