"""GPU comparison, faceprint vs facenet-pytorch 2.6.0 on CUDA, fp32 and fp16, at the three video
resolutions (1080p, 720p, 540p), plus embedding at batch 64. Runs in under 5 minutes.

    python benchmarks/gpu.py [--frames 105]

Needs a CUDA device, the shared data (samples/video.mp4) and PyAV. fp16 is faceprint-only
(``MTCNN(...).half()``): facenet-pytorch's detector can't run in half precision.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import agreement, as_list, peer, video_frames  # noqa: E402

from faceprint import MTCNN, InceptionResnetV1  # noqa: E402
from faceprint.models.inference import optimize_for_inference  # noqa: E402


def timed(fn, repeat: int = 3):
    fn()
    torch.cuda.synchronize()
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=105)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device")
    torch.set_grad_enabled(False)
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}")
    theirs = peer().MTCNN(keep_all=True, device="cuda")
    ours32 = MTCNN(keep_all=True, device="cuda")
    ours16 = MTCNN(keep_all=True, device="cuda").half()
    print(
        f"{'frames':<10} {'facenet fp32':>13} {'faceprint fp32':>15} {'faceprint fp16':>15} "
        f"{'ratio fp32':>11} {'ratio fp16':>11}  agreement"
    )
    for height in (1080, 720, 540):
        frames = video_frames(height, args.frames)
        b = args.batch

        def run(detector, convert=lambda x: x, frames=frames, b=b):
            return [
                x
                for i in range(0, len(frames), b)
                for x in convert(detector.detect(frames[i : i + b])[0])
            ]

        t_theirs, b_theirs = timed(lambda: run(theirs, as_list))
        t32, b32 = timed(lambda: run(ours32))
        t16, b16 = timed(lambda: run(ours16))
        n32, nt, iou32 = agreement(b32, b_theirs)
        n16, _, iou16 = agreement(b16, b_theirs)
        fps = [len(frames) / t for t in (t_theirs, t32, t16)]
        print(
            f"{height}p{'':<5} {fps[0]:>9.1f} fps {fps[1]:>11.1f} fps {fps[2]:>11.1f} fps "
            f"{fps[1] / fps[0]:>10.2f}x "
            f"{fps[2] / fps[0]:>10.2f}x  fp32 {n32}/{nt} faces IoU {iou32:.3f}; fp16 {n16} "
            f"faces IoU {iou16:.3f}"
        )
    model = InceptionResnetV1(classify=True, num_classes=8631).eval()
    ref = peer().InceptionResnetV1(classify=True, num_classes=8631).eval()
    ref.load_state_dict(model.state_dict())
    ref.classify = model.classify = False
    ref, fast = ref.cuda(), optimize_for_inference(model).cuda()
    x = torch.randn(64, 3, 160, 160, device="cuda")
    t_ref, e_ref = timed(lambda: ref(x))
    t_fast, e_fast = timed(lambda: fast(x))
    fast16 = optimize_for_inference(model).cuda().half()
    t_16, e_16 = timed(lambda: fast16(x.half()))
    print(
        f"embedding batch 64: facenet {64 / t_ref:.0f} f/s, faceprint fp32 {64 / t_fast:.0f} f/s "
        f"({t_ref / t_fast:.2f}x), fp16 {64 / t_16:.0f} f/s ({t_ref / t_16:.2f}x); "
        f"max |diff| fp32 {float((e_fast - e_ref).abs().max()):.1e}, fp16 "
        f"{float((e_16.float() - e_ref).abs().max()):.1e}"
    )
    onnx_cuda(model, ref, x, t_ref)


def onnx_cuda(model, ref, x, t_ref: float) -> None:
    """The same embedder exported and run by ONNX Runtime's CUDA provider (onnxruntime-gpu)."""
    try:
        import onnxruntime as ort
    except ImportError:
        print("ONNX Runtime: not installed (pip install onnxruntime-gpu)")
        return
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        print("ONNX Runtime: no CUDAExecutionProvider (install onnxruntime-gpu)")
        return
    import tempfile

    from faceprint import get_weights, save_model
    from faceprint.export import export
    from faceprint.models.onnx_runtime import OnnxNetwork

    with tempfile.TemporaryDirectory() as tmp:
        save_model(model.cpu(), f"{tmp}/same.pt", get_weights("vggface2"), name="same")
        (path,) = export(f"{tmp}/same.pt", "onnx", tmp)
        runner = OnnxNetwork(path)
        t_onnx, e_onnx = timed(lambda: runner(x))
    e_ref = ref(x).detach().cpu()
    print(
        f"ONNX Runtime CUDA fp32, batch 64: {64 / t_onnx:.0f} f/s ({t_ref / t_onnx:.2f}x "
        f"facenet); max |diff| {float((e_onnx - e_ref).abs().max()):.1e}"
    )


if __name__ == "__main__":
    main()
