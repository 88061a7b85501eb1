"""Exported networks for ONNX Runtime: MTCNN's and the embedders' ONNX files, made by
:mod:`faceprint.export` on first use and cached, and the int8 embedder built from them; they
run as :class:`~faceprint.models.onnx_session.OnnxNetwork` (re-exported here with
:func:`check_backend`), so that the cascade and the pipeline keep one code path whichever
backend computes.

The ONNX files are :mod:`faceprint.export`'s, made on first use and cached under
``<weights cache>/onnx/``, named by the weights' sha256 (a file for other weights is another
name); a cached file whose recorded source does not match is rebuilt.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from faceprint.errors import FaceprintError
from faceprint.models.onnx_session import BACKENDS, OnnxNetwork, check_backend, providers

__all__ = [
    "BACKENDS",
    "CALIBRATION_CROPS",
    "OnnxNetwork",
    "cached_onnx",
    "check_backend",
    "mtcnn_networks",
    "providers",
    "quantized_onnx",
]

logger = logging.getLogger(__name__)


def cached_onnx(source: str | os.PathLike, sha256: str | None) -> dict[str, Path]:
    """The cached ONNX export of ``source``, made on first use.

    Args:
        source: a registry name, a faceprint model file, or ``"mtcnn"`` (its three networks).
        sha256: the weights' sha256 (the cache is keyed by it: other weights, other files).

    Returns:
        network name -> ``.onnx`` file. A file that no longer has the sha256 recorded when it
        was written (tampered with, or cut short) is rebuilt.
    """
    import json
    import shutil

    from faceprint.export import export
    from faceprint.files import sha256_file
    from faceprint.weights.fetch import cache_dir

    name = Path(source).stem if Path(source).suffix else str(source)
    folder = cache_dir() / "onnx" / f"{name}-{(sha256 or 'unversioned')[:16]}"
    manifest = folder / "manifest.json"
    if manifest.exists():
        try:
            recorded = json.loads(manifest.read_text())
            files = {stem: folder / f"{stem}.onnx" for stem in recorded}
            if all(sha256_file(files[stem]) == digest for stem, digest in recorded.items()):
                return files
            logger.warning("%s: a cached export changed since it was written; rebuilding", folder)
        except (OSError, ValueError) as e:
            logger.warning("%s: unreadable cached export (%s); rebuilding it", folder, e)
    staging = folder.with_name(f".{folder.name}.part")
    shutil.rmtree(staging, ignore_errors=True)
    written = export(source, "onnx", staging, force=True)
    (staging / "manifest.json").write_text(
        json.dumps({p.stem: sha256_file(p) for p in written}, indent=1)
    )
    shutil.rmtree(folder, ignore_errors=True)
    staging.replace(folder)
    return {p.stem: folder / p.name for p in written}


def mtcnn_networks() -> tuple[OnnxNetwork, OnnxNetwork, OnnxNetwork]:
    """P-Net, R-Net and O-Net in ONNX Runtime."""
    from faceprint.weights.loading import get_weights

    key = "".join((get_weights(f"mtcnn-{n}").sha256 or "")[:8] for n in ("pnet", "rnet", "onet"))
    files = cached_onnx("mtcnn", key)
    return tuple(OnnxNetwork(files[n]) for n in ("pnet", "rnet", "onet"))


#: Calibration crops used at most (more adds build time, not accuracy).
CALIBRATION_CROPS = 256


def quantized_onnx(
    fp32: str | os.PathLike,
    calibration: np.ndarray | None = None,
    progress: bool = True,
    calibration_id: str | None = None,
) -> Path:
    """The int8 version of an exported embedder, built once beside it and checked after.

    ONNX Runtime static quantization: QDQ format, weights int8 per channel, activations uint8
    with min-max ranges from ``calibration``. Chosen over torch's x86 quantization because it
    ran faster here (``benchmarks/embedding.py``) and the same file runs on every ONNX Runtime
    provider.

    Args:
        fp32: the float32 export (from :func:`cached_onnx`).
        calibration: ``(N, 3, S, S)`` float32 standardized face crops; needed only to build.
        progress: show a progress bar while calibrating.
        calibration_id: names the photos the crops came from
            (:func:`~faceprint.files.files_fingerprint`); a cached model calibrated on other
            photos is rebuilt. None takes the cached model, whatever it was calibrated on.

    Raises:
        FaceprintError: no usable int8 file is cached (or it was calibrated on other photos)
            and no calibration crops were given.
    """
    import json

    from faceprint.files import atomic_path, sha256_file

    fp32 = Path(fp32)
    path = fp32.with_name(f"{fp32.stem}.int8.onnx")
    record = fp32.with_name(f"{fp32.stem}.int8.json")
    other_photos = False
    if path.exists() and record.exists():
        try:
            recorded = json.loads(record.read_text())
            intact = recorded.get("int8") == sha256_file(path)
            if intact and recorded.get("source") == sha256_file(fp32):
                if calibration_id is None or recorded.get("calibration") == calibration_id:
                    return path
                other_photos = True
                logger.info("%s was calibrated on other photos; rebuilding it", path)
            else:
                logger.warning("%s: stale or changed int8 model; rebuilding it", path)
        except (OSError, ValueError, AttributeError) as e:
            logger.warning("%s: unreadable int8 record (%s); rebuilding it", record, e)
    if calibration is None or len(calibration) == 0:
        if other_photos:
            raise FaceprintError(
                f"the cached int8 model {path} was calibrated on other photos; pass the crops "
                "of these ones (calibration=) to rebuild it"
            )
        raise FaceprintError(
            "precision='int8' builds its model once from face photos: pass calibration= (a "
            "folder of photos, e.g. LFW's View 1 people; CLI: --calibration DIR)"
        )
    if len(calibration) < 32:
        logger.warning(
            "int8 calibrated on %d face crops only; 100 or more set its ranges reliably",
            len(calibration),
        )
    _quantize(fp32, path, calibration[:CALIBRATION_CROPS], progress)
    with atomic_path(record) as tmp:
        tmp.write_text(
            json.dumps(
                {
                    "int8": sha256_file(path),
                    "source": sha256_file(fp32),
                    "calibration": calibration_id,
                }
            )
        )
    return path


def _quantize(fp32: Path, out: Path, crops: np.ndarray, progress: bool) -> None:
    import tempfile

    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process
    from tqdm import tqdm

    from faceprint.files import atomic_path

    batches = [crops[i : i + 16] for i in range(0, len(crops), 16)]
    bar = tqdm(total=len(crops), desc="int8 calibration", unit="face", disable=not progress)

    class Crops(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(batches)

        def get_next(self):
            batch = next(self.batches, None)
            if batch is not None:
                bar.update(len(batch))
            return None if batch is None else {"crops": np.ascontiguousarray(batch)}

    with tempfile.TemporaryDirectory() as tmp, atomic_path(out, suffix=".onnx") as target:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(fp32), str(prepared))
        quantize_static(
            str(prepared),
            str(target),
            Crops(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
        )
    bar.close()
