"""IdentityLoss against the way face-GAN projects use facenet-pytorch: forward plus backward at
batch 16 of 256x256 generated images, time and memory, in the same run.

The peer, as pSp/e4e-style code writes it: crop pSp's FFHQ box, ``F.interpolate`` to 160, run
facenet-pytorch's ``InceptionResnetV1`` (in eval mode, parameters still taking gradients, as
those projects leave it), ``1 - cos`` to a target embedding, backward. Also the peer at its best,
its parameters frozen with ``requires_grad_(False)``. faceprint: ``IdentityLoss(crop="ffhq")``.
Memory is each variant's peak resident memory above what it holds before the first step, each in
a fresh process.

    python benchmarks/identity_loss.py [--batch 16] [--size 256] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
VARIANTS = ("faceprint", "facenet-pytorch", "facenet-pytorch frozen")


def make(variant: str):
    """The loss function of a variant: ``(generated, target_embedding) -> scalar``."""
    from torch.nn import functional as F

    if variant == "faceprint":
        from faceprint.losses import IdentityLoss

        loss = IdentityLoss(crop="ffhq")
        return loss, loss.net.embedding_size
    sys.path.insert(0, str(HERE))
    from common import peer

    net = peer().InceptionResnetV1(pretrained=None).eval()
    if variant.endswith("frozen"):
        net.requires_grad_(False)

    def loss(generated, target):
        faces = generated[:, :, 35:223, 32:220]
        faces = F.interpolate(faces, size=(160, 160), mode="bilinear", align_corners=False)
        embedding = net(faces)
        return (1 - (embedding * target).sum(dim=1)).mean()

    return loss, 512


def step(loss, generated, target) -> float:
    """One forward and backward pass, the generated images' gradient cleared after."""
    value = loss(generated, target)
    value.backward()
    generated.grad = None
    return float(value.detach())


def inputs(batch: int, size: int, dim: int):
    generator = torch.Generator().manual_seed(0)
    generated = (torch.rand(batch, 3, size, size, generator=generator) * 2 - 1).requires_grad_()
    target = torch.nn.functional.normalize(torch.randn(batch, dim, generator=generator), dim=1)
    return generated, target


def memory(variant: str, batch: int, size: int) -> float:
    """Peak RSS growth (MiB) over two steps, in a fresh process."""
    code = f"""
import sys, json, resource
sys.path.insert(0, {str(HERE)!r})
import identity_loss as bench
loss, dim = bench.make({variant!r})
generated, target = bench.inputs({batch}, {size}, dim)
import os
before = int(open("/proc/self/statm").read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
for _ in range(2):
    bench.step(loss, generated, target)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({{"growth": peak - before}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])["growth"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    from common import cpu_path

    print(f"{cpu_path()}; torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"forward + backward, batch {args.batch}, {args.size}x{args.size}, CPU fp32\n")
    losses = {v: make(v) for v in VARIANTS}
    data = {v: inputs(args.batch, args.size, dim) for v, (_, dim) in losses.items()}
    times = {v: [] for v in VARIANTS}
    for v in VARIANTS:  # warm-up
        step(losses[v][0], *data[v])
    for _ in range(args.repeat):  # interleaved, so that drift hits every variant alike
        for v in VARIANTS:
            start = time.perf_counter()
            step(losses[v][0], *data[v])
            times[v].append(time.perf_counter() - start)
    grows = {v: memory(v, args.batch, args.size) for v in VARIANTS}
    ours = min(times["faceprint"])
    print(f"{'variant':<24} {'s/step':>8} {'faceprint speed-up':>19} {'memory growth':>14}")
    for v in VARIANTS:
        best = min(times[v])
        print(f"{v:<24} {best:>8.3f} {best / ours:>18.2f}x {grows[v]:>10.0f} MiB")


if __name__ == "__main__":
    main()
