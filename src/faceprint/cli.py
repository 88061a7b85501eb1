"""The ``faceprint`` command. Thin: it parses arguments and calls the library."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path

import click
import numpy as np
from tqdm import tqdm

from faceprint.alignment import ALIGN_METHODS
from faceprint.detection.mtcnn import MTCNN_DEFAULTS
from faceprint.errors import FaceprintError, MissingExtraError, UnknownModelError, listed
from faceprint.extras import require
from faceprint.gallery.gallery import DEFAULT_FAR, UNKNOWN
from faceprint.pipeline import (
    DEFAULT_MODEL,
    DEFAULT_PRECISION,
    DEFAULT_VERIFY_FAR,
    detection_record,
)
from faceprint.serve.config import ServeConfig
from faceprint.serve.keys import SCOPES
from faceprint.training.schedule import (
    HEADS,
    LARGE_SET_DEFAULTS,
    SMALL_SET_DEFAULTS,
    SMALL_SET_PHOTOS,
)


def _error(message: object) -> None:
    """One "error:" line on stderr, written above any progress bar."""
    tqdm.write(f"error: {message}", file=sys.stderr)


def _report_ignored(recognizer) -> None:
    """Say how many detections recognition passed over (MTCNN false positives, tiny faces)."""
    if recognizer.ignored:
        tqdm.write(
            f"ignored {recognizer.ignored} detection(s) less likely than p="
            f"{recognizer.min_probability:g} or smaller than {recognizer.min_face_size:g} px",
            file=sys.stderr,
        )


def _finish(failed: int, total: int, noun: str = "inputs") -> None:
    """Exit 1 with a summary line when any input failed (0 otherwise: every input handled)."""
    if failed:
        click.echo(f"{failed} of {total} {noun} failed", err=True)
        sys.exit(1)


class _Commands(click.Group):
    """faceprint's commands: an optional dependency that is not installed is a usage error
    (exit 2) that names the extra to install, wherever a command meets it."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except MissingExtraError as e:
            raise click.UsageError(str(e)) from None


@click.group(cls=_Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="faceprint")
def main() -> None:
    """faceprint: face detection, alignment and recognition for PyTorch."""


def _far_option(default: float, help: str):
    """``--far``: a rate in (0, 1) from which a threshold follows."""
    return click.option(
        "--far",
        type=click.FloatRange(0, 1, min_open=True, max_open=True),
        default=default,
        show_default=True,
        help=help,
    )


def _mtcnn_option(flag: str, help: str):
    """An option whose default is MTCNN's own for the argument of that name."""
    default = MTCNN_DEFAULTS[flag.removeprefix("--").replace("-", "_")]
    return click.option(flag, default=default, show_default=True, help=help)


def _context_option(flag: str, **settings):
    """An option kept in the click context (``ctx.meta[flag]``) instead of passed to the
    command: _recognizer() and detect read it there with :func:`_from_context`, so that every
    command that embeds or detects takes it without one more parameter each."""

    def remember(ctx: click.Context, param: click.Parameter, value):
        ctx.meta[flag] = value
        return value

    return click.option(flag, expose_value=False, callback=remember, **settings)


def _from_context(flag: str, default=None):
    return click.get_current_context().meta.get(flag, default)


_BACKEND = _context_option(
    "--backend",
    type=click.Choice(["torch", "onnxruntime"]),
    default="torch",
    show_default=True,
    help="Run the networks in torch, or as ONNX exports in ONNX Runtime (pip install "
    "'faceprint[onnx]'; exported once and cached).",
)
_CALIBRATION = _context_option(
    "--calibration",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="--precision int8: a folder of face photos that sets the quantization ranges; the int8 "
    "model is built once per folder and cached (eval lfw uses LFW's View 1).",
)


@main.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON list, one entry per image.")
@click.option(
    "--annotate",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Draw the detections into this PNG/JPEG; for several images, a folder of "
    "<image>.png files.",
)
@click.option(
    "--crops",
    type=click.Path(file_okay=False, path_type=Path),
    help="Save each face crop into this directory.",
)
@_mtcnn_option("--image-size", "Side of the saved crops.")
@_mtcnn_option("--margin", "Crop margin, in crop pixels.")
@_mtcnn_option("--min-face-size", "Smallest face searched for, in pixels.")
@click.option("--device", default=None, help="torch device, e.g. cuda.")
@_BACKEND
def detect(images, as_json, annotate, crops, image_size, margin, min_face_size, device) -> None:
    """Find faces: boxes, probabilities and 5 landmarks per face."""
    from faceprint.alignment import extract_face
    from faceprint.detection import MTCNN
    from faceprint.drawing import annotate as draw
    from faceprint.images import load_image

    mtcnn = MTCNN(
        image_size=image_size,
        margin=margin,
        min_face_size=min_face_size,
        keep_all=True,
        device=device,
        backend=_from_context("--backend", "torch"),
    )
    report, failed = [], 0
    paths = _image_files(images)
    for path in tqdm(paths, desc="detecting", unit="img", disable=len(paths) < 2):
        try:
            pil = load_image(path)
            boxes, probs, points = mtcnn.detect(pil, landmarks=True)
        except FaceprintError as e:
            failed += 1
            _error(e)
            report.append({"image": str(path), "error": str(e), "faces": []})
            continue
        faces = (
            []
            if boxes is None
            else [
                detection_record(b, p, pts) for b, p, pts in zip(boxes, probs, points, strict=True)
            ]
        )
        report.append({"image": str(path), "faces": faces})
        if annotate:
            target = _annotation_path(annotate, path, len(paths))
            draw(pil, boxes, None if probs is None else [f"{p:.3f}" for p in probs], points).save(
                target
            )
        for i, box in enumerate([] if boxes is None or not crops else boxes):
            extract_face(pil, box, image_size, margin, save_path=crops / f"{path.stem}_{i + 1}.png")
        if not as_json:
            tqdm.write(f"{path}: {len(faces)} face(s)")
            for i, f in enumerate(faces):
                marks = " ".join(f"({x:.0f},{y:.0f})" for x, y in f["landmarks"])
                tqdm.write(f"  {i}: box={f['box']} p={f['probability']:.4f} landmarks={marks}")
    if as_json:
        click.echo(json.dumps(report, indent=2))
    _finish(failed, len(paths), "images")


def _annotation_path(annotate: Path, image: Path, count: int) -> Path:
    """Where the picture of ``image`` goes: ``--annotate`` names a file for one image; for
    several, a folder (one ``<image>.png`` each)."""
    target = annotate if count == 1 and annotate.suffix else annotate / f"{image.stem}.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


_PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


def _picture_file(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """Refuse a picture path whose format can't be told from its suffix before any work."""
    if value is not None and value.suffix.lower() not in _PICTURE_SUFFIXES:
        raise click.BadParameter(
            f"{str(value)!r} needs a picture suffix: one of {', '.join(_PICTURE_SUFFIXES)}"
        )
    return value


_MODEL = click.option(
    "--model",
    default=DEFAULT_MODEL,
    show_default=True,
    help="Registry name of the embedding weights, or a faceprint model file.",
)
_ALIGN = click.option(
    "--align",
    type=click.Choice(list(ALIGN_METHODS)),
    default=None,
    help="How faces are cut: detection box with margin, 5-point similarity warp, dlib's "
    "5-point chip, or a fixed centre crop (default: the model's own: box; dlib for "
    "dlib-resnet-v1; each member's own for an ensemble).",
)
_DEVICE = click.option("--device", default=None, help="torch device, e.g. cuda.")


_PRECISION = click.option(
    "--precision",
    type=click.Choice(["auto", "fp32", "bf16", "int8"]),
    default=DEFAULT_PRECISION,
    show_default=True,
    help="Precision of the network: auto picks bf16 where the CPU (AMX, AVX-512 BF16) or GPU "
    "computes it natively, else fp32. int8: quantized in ONNX Runtime, built once from "
    "--calibration photos.",
)


def _RECOGNIZER(command):  # noqa: N802 - used as a decorator, like the options above
    """--model, --align, --device, --precision and --backend: the options of every command
    that embeds."""
    for option in (_CALIBRATION, _BACKEND, _PRECISION, _DEVICE, _ALIGN, _MODEL):
        command = option(command)
    return command


def _recognizer(
    model: str,
    align: str | None,
    device: str | None,
    precision: str = DEFAULT_PRECISION,
    far: float = DEFAULT_VERIFY_FAR,
    threshold: float | None = None,
):
    from faceprint.pipeline import FaceRecognizer

    try:
        return FaceRecognizer(
            model=model,
            align=align,
            device=device,
            precision=precision,
            far=far,
            threshold=threshold,
            backend=_from_context("--backend", "torch"),
            calibration=_from_context("--calibration"),
        )
    except UnknownModelError as e:
        raise click.UsageError(str(e)) from None  # a --model that names nothing
    except FaceprintError as e:
        raise click.ClickException(str(e)) from None


@main.command()
@click.argument("image_a", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("image_b", type=click.Path(dir_okay=False, path_type=Path))
@_RECOGNIZER
@_far_option(
    DEFAULT_VERIFY_FAR,
    "False-accept rate the threshold is set for: the fraction of pairs of strangers called "
    "the same person.",
)
@click.option("--threshold", type=float, default=None, help="A fixed distance threshold instead.")
@click.option(
    "--annotate",
    type=click.Path(dir_okay=False, path_type=Path),
    callback=_picture_file,
    help="Write both photos side by side with the verdict to this picture file.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def verify(
    image_a, image_b, model, align, device, precision, far, threshold, annotate, as_json
) -> None:
    """Are IMAGE_A and IMAGE_B the same person? Prints distance, verdict and threshold.

    The default threshold accepts about 1 in 1000 pairs of strangers (--far 1e-3); the output
    also says how often strangers come as close as these two faces.
    """
    from faceprint.drawing import verification_panel
    from faceprint.images import load_image

    recognizer = _recognizer(model, align, device, precision, far=far, threshold=threshold)
    try:
        a, b = load_image(image_a), load_image(image_b)
        result = recognizer.verify(a, b)
    except (FaceprintError, ValueError) as e:
        raise click.ClickException(str(e)) from None
    _report_ignored(recognizer)
    if annotate:
        annotate.parent.mkdir(parents=True, exist_ok=True)
        verification_panel(a, b, result).save(annotate)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "distance": result.distance,
                    "same": result.same,
                    "threshold": result.threshold,
                    "false_accept_rate": result.false_accept_rate,
                    "model": recognizer.name,
                }
            )
        )
    else:
        verdict = "same person" if result.same else "different people"
        basis = f"set for {_one_in(far)} strangers" if threshold is None else "given"
        click.echo(
            f"distance {result.distance:.4f}: {verdict} (threshold {result.threshold:.4f}, "
            f"{basis}; {recognizer.name})"
        )
        rate = result.false_accept_rate
        if rate is not None:
            share = "over half of all" if rate >= 0.5 else _one_in(rate)
            click.echo(f"{share} pairs of strangers come this close (LFW View 1 impostor pairs)")


def _one_in(rate: float) -> str:
    """``1e-3`` -> ``"1 in 1,000"``; the recorded distribution ends at 1e-7."""
    if rate <= 1.01e-7:
        return "fewer than 1 in 10,000,000"
    return f"1 in {round(1 / rate):,}"


@main.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path),
    help="A .npz or .parquet file, or a folder (no suffix): a Parquet dataset the job fills "
    "and resumes.",
)
@_RECOGNIZER
@click.option(
    "--engine",
    type=click.Choice(["local", "ray"]),
    default="local",
    show_default=True,
    help="Folder output: run here, or on Ray Data (pip install 'faceprint[ray]').",
)
@click.option(
    "--address", default=None, help="Ray cluster: auto, ray://host:port (default: a local Ray)."
)
@click.option(
    "--actors", default=1, show_default=True, type=click.IntRange(min=1), help="Ray actors."
)
@click.option(
    "--batch-size",
    default=64,
    show_default=True,
    type=click.IntRange(min=1),
    help="Images per batch.",
)
@click.option(
    "--gpus-per-actor",
    default=0.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Ray GPUs.",
)
def embed(
    inputs,
    out,
    model,
    align,
    device,
    precision,
    engine,
    address,
    actors,
    batch_size,
    gpus_per_actor,
) -> None:
    """Embed every face in INPUTS into OUT, with paths, boxes and landmarks.

    INPUTS are images or folders, or for a folder OUT also text or Parquet files listing image
    paths. A folder OUT is a Parquet dataset, one row per face (an image without a face, or
    that can't be read, is a row too); rerunning the job skips the inputs it already holds.
    """
    if out.suffix and not out.is_dir():
        if engine != "local":
            raise click.UsageError("--engine ray writes a folder: give --out a folder name")
        _embed_file(inputs, out, model, align, device, precision)
        return
    if engine == "ray":
        require("ray.data", "ray", "--engine ray")
    require("pyarrow.dataset", "parquet", "a dataset folder as --out", otherwise="or write .npz")
    from faceprint.batch import dataset_summary, list_inputs, run_local, run_ray

    try:
        listed = list(dict.fromkeys(p for item in inputs for p in list_inputs(item)))
    except FaceprintError as e:
        raise click.UsageError(str(e)) from None
    try:
        if engine == "ray":
            done = run_ray(listed, out, model, align, actors, batch_size, gpus_per_actor, address)
        else:
            recognizer = _recognizer(model, align, device, precision)
            done = run_local(recognizer, listed, out, batch_size, progress=True)
    except FaceprintError as e:
        raise click.ClickException(str(e)) from None
    summary = dataset_summary(out, listed)
    click.echo(
        f"{len(listed)} inputs ({len(listed) - done} already in {out}): {summary['faces']} faces, "
        f"{summary['faceless']} images without a face, {summary['errors']} unreadable"
    )
    for _, error in summary["error_rows"][:5]:
        _error(error)
    _finish(summary["errors"], len(listed), "inputs")


def _embed_file(inputs, out, model, align, device, precision) -> None:
    from faceprint.embeddings_io import check_writable, write_embeddings

    try:
        check_writable(out)
    except FaceprintError as e:
        raise click.BadParameter(str(e), param_hint="--out") from None
    paths = _image_files(inputs)
    recognizer = _recognizer(model, align, device, precision)
    rows, failed, faceless = [], 0, 0
    for path in tqdm(paths, desc="embedding", unit="img"):
        try:
            faces = recognizer.embed(path)
        except FaceprintError as e:
            failed += 1
            _error(e)
            continue
        faceless += not faces
        rows += [(str(path), i, f) for i, f in enumerate(faces)]
    write_embeddings(out, rows, recognizer.name, dim=recognizer.embedding_size)
    _report_ignored(recognizer)
    click.echo(
        f"{len(rows)} faces from {len(paths) - failed} images -> {out}"
        + (f"; {faceless} images without a face" if faceless else "")
    )
    _finish(failed, len(paths), "images")


@main.group(name="eval")
def evaluation() -> None:
    """Evaluate a model on a benchmark protocol (LFW's 10-fold verification)."""


@evaluation.command("lfw")
@click.option(
    "--data",
    required=True,
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="LFW directory (holding images/ and pairs.txt), or the images directory itself.",
)
@click.option(
    "--pairs",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Pairs file (default DATA/pairs.txt).",
)
@_RECOGNIZER
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    callback=_picture_file,
    help="Write the ROC curve to this picture file (.png).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--no-cache", is_flag=True, help="Recompute detections and embeddings.")
@click.option(
    "--crop-size",
    type=int,
    default=None,
    help="--align none: side of the centre crop in pixels (default: the model's tuned one).",
)
@click.option(
    "--protocol",
    type=click.Choice(["pairs", "all-pairs"]),
    default="pairs",
    show_default=True,
    help="pairs: LFW's 6000 pairs in 10 folds. all-pairs: TAR at FAR 1e-2, 1e-3 and 1e-4 over "
    "every pair of the pairs.txt images, thresholds set on View 1's (pairsDev*.txt) impostors.",
)
def eval_lfw(
    data, pairs, model, align, device, plot, as_json, no_cache, precision, crop_size, protocol
) -> None:
    """LFW's 10-fold verification protocol (accuracy, AUC, EER, TAR@FAR=1e-3), or every pair."""
    from faceprint.evaluation.plots import plot_roc
    from faceprint.evaluation.verification import evaluate, evaluate_all_pairs, read_lfw_pairs

    images = data / "images" if (data / "images").is_dir() else data
    pairs_file = pairs or (
        data / "pairs.txt" if (data / "pairs.txt").is_file() else data.parent / "pairs.txt"
    )
    view1 = pairs_file.parent / "pairsDevTrain.txt"
    if precision == "int8" and _from_context("--calibration") is None and view1.is_file():
        # Calibrated on View 1 only: View 2, the pairs scored here, stays unseen.
        train = read_lfw_pairs(view1, images)
        click.get_current_context().meta["--calibration"] = sorted(
            set(map(str, train.a)) | set(map(str, train.b))
        )
    recognizer = _recognizer(model, align, device, precision)
    if crop_size is not None:
        if align != "none":
            raise click.UsageError("--crop-size goes with --align none")
        recognizer.alignment = dataclasses.replace(recognizer.alignment, crop_size=crop_size)
    try:
        labelled = read_lfw_pairs(pairs_file, images)
        if protocol == "all-pairs":
            root = pairs_file.parent
            view1 = [read_lfw_pairs(root / f"pairsDev{k}.txt", images) for k in ("Train", "Test")]
    except (OSError, ValueError) as e:
        raise click.BadParameter(str(e), param_hint="--pairs/--data") from None
    if protocol == "all-pairs":
        _all_pairs(
            evaluate_all_pairs(recognizer, labelled, _joined(view1), cache=not no_cache), as_json
        )
        return
    report = evaluate(recognizer, labelled, cache=not no_cache, progress=True)
    d = report.to_dict()
    if plot:
        plot_roc(
            {f"{recognizer.name}  acc {d['accuracy']:.4f}": report.roc},
            plot,
            title=f"LFW ({pairs_file.name})",
        )
    if as_json:
        click.echo(json.dumps(d))
        return
    click.echo(f"model {recognizer.name}, {d['pairs']} pairs, {d['images']} images")
    click.echo(
        f"accuracy {d['accuracy']:.4f} ± {d['accuracy_std']:.4f}   AUC {d['auc']:.5f}   EER "
        f"{d['eer']:.4f}   "
        f"TAR@FAR=1e-3 {d['tar_at_far_1e-3']:.4f}"
    )
    click.echo(
        f"mean threshold {d['threshold']:.4f}; missed detections {d['missed_detections']} "
        f"({d['missed_handling']})"
    )
    click.echo(f"{d['seconds']:.1f} s" + (f"; ROC curve -> {plot}" if plot else ""))


def _joined(parts):
    """One set of pairs from several (View 1's DevTrain and DevTest)."""
    from faceprint.evaluation.verification import Pairs

    return Pairs(
        [p for part in parts for p in part.a],
        [p for part in parts for p in part.b],
        np.concatenate([part.same for part in parts]),
        np.concatenate([part.folds for part in parts]),
    )


def _all_pairs(report, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(report.to_dict()))
        return
    click.echo(
        f"model {report.model}: {report.images} images, {report.genuine_pairs:,} same-person and "
        f"{report.impostor_pairs:,} cross-person pairs; thresholds from "
        f"{report.calibration_impostor_pairs:,} View 1 impostor pairs"
    )
    for row in report.rows:
        click.echo(
            f"FAR {row['far']:g}: threshold {row['threshold']:.4f}, TAR {row['tar']:.4f} "
            f"(realized FAR {row['realized_far']:.2e})"
        )


@main.command()
@click.argument("ref", type=click.Path(exists=True, path_type=Path))
@click.argument("gens", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@_RECOGNIZER
@_far_option(
    DEFAULT_VERIFY_FAR,
    "False-accept rate the preserved-identity threshold is set for (as in verify).",
)
@click.option(
    "--matrix",
    "all_pairs",
    is_flag=True,
    help="Score every generated face against every reference face, even where names pair.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for pairs.csv, matrix.npy, heatmap.png, histogram.png and worst.png.",
)
@click.option(
    "--worst", default=16, show_default=True, type=click.IntRange(min=1), help="Pairs in worst.png."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per GEN, a line each.")
def similarity(
    ref, gens, model, align, device, precision, far, all_pairs, out, worst, as_json
) -> None:
    """How much identity do generated images keep? Scores GENS against REF.

    REF and each GEN are an image file or a folder. Images pair by relative path without
    extension (ref/a/001.png with gen/a/001.jpg); where no names pair, or with --matrix, every
    generated face is scored against every reference face. Each image's largest face counts.
    Prints mean, std, median, min and max of the cosine similarity, the rate of pairs that
    verify as one person (preserved) and ID retrieval top-1, one row per GEN.
    """
    from faceprint.evaluation.similarity import (
        compare_face_sets,
        embed_face_set,
        report_labels,
        save_similarity_files,
    )

    recognizer = _recognizer(model, align, device, precision, far=far)
    try:
        ref_set = embed_face_set(recognizer, ref, progress=True, desc=f"reference {ref.name}")
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    reports, failed = [], 0
    for gen in gens:
        try:
            gen_set = embed_face_set(recognizer, gen, progress=True)
        except ValueError as e:
            failed += 1
            _error(e)
            continue
        reports.append(
            compare_face_sets(ref_set, gen_set, recognizer.name, recognizer.threshold, all_pairs)
        )
    face_sets = [ref_set, *(r.gen_faces for r in reports)]
    unreadable = [why for f in face_sets for why in f.missed.values() if why.startswith("unread")]
    for why in unreadable:
        _error(why.removeprefix("unreadable: "))
    if reports and out:
        save_similarity_files(reports, out, recognizer, worst)
    if as_json:
        for report in reports:
            click.echo(json.dumps(report.summary()))
    elif reports:
        _similarity_table(reports, report_labels(reports), ref_set, out)
    _report_ignored(recognizer)
    images = sum(len(f.names) + len(f.missed) for f in face_sets)
    _finish(failed + len(unreadable), failed + images, "inputs")


def _similarity_table(reports, labels, ref_set, out) -> None:
    first = reports[0]
    threshold = first.threshold
    click.echo(
        f"{first.model}: same person below distance {threshold:.4f} (cosine above "
        f"{1 - threshold**2 / 2:.3f}); reference {first.ref}: {len(ref_set.names)} faces"
        + (f", {len(ref_set.missed)} missed" if ref_set.missed else "")
    )
    width = max(8, *(len(label) for label in labels))
    click.echo(
        f"{'GEN':<{width}}  {'pairing':<7}  {'pairs':>6}  {'mean':>6} {'± std':>6}  "
        f"{'median':>6}  {'min':>6}  {'max':>6}  {'preserved':>9}  {'ID top-1':>8}  missed"
    )
    for label, report in zip(labels, reports, strict=True):
        d = report.summary()
        number = "{:6.3f}".format
        stats = (
            f"{number(d['mean'])} {d['std']:6.3f}  {number(d['median'])}  {number(d['min'])}  "
            f"{number(d['max'])}  {d['preserved_rate']:9.3f}"
            if report.pairs
            else f"{'':6} {'':6}  {'':6}  {'':6}  {'':6}  {'':9}"
        )
        top1 = d["id_retrieval_top1"]
        click.echo(
            f"{label:<{width}}  {'name' if report.paired else 'all':<7}  {report.pairs:>6}  "
            f"{stats}  {'' if top1 is None else f'{top1:8.3f}':>8}  {len(report.missed_gen)}"
        )
    for label, report in zip(labels, reports, strict=True):
        for title, names in (
            ("without a face or unreadable", report.missed_gen),
            ("no reference of that name", report.unpaired_gen),
        ):
            if names:
                click.echo(f"{label}: {len(names)} {title}: {listed(names)}", err=True)
    if first.unpaired_ref and first.paired:
        click.echo(
            f"{len(first.unpaired_ref)} references without a generated image of their name: "
            f"{listed(first.unpaired_ref)}",
            err=True,
        )
    if ref_set.missed:
        click.echo(
            f"reference: {len(ref_set.missed)} without a face: {listed(ref_set.missed)}", err=True
        )
    if out:
        click.echo(f"pairs.csv, matrix.npy, heatmap.png, histogram.png, worst.png -> {out}")


_VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov")


def _every_nth_frame(n: int) -> str:
    """1 -> "every frame", 2 -> "every 2nd frame", 3 -> "every 3rd frame", 11 -> "every 11th"."""
    if n == 1:
        return "every frame"
    suffix = {1: "st", 2: "nd", 3: "rd"}.get(n % 10 if n % 100 not in (11, 12, 13) else 0, "th")
    return f"every {n}{suffix} frame"


@main.command()
@click.argument("video", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the video with boxes, track ids and names (H.264, .mp4/.mkv/.mov).",
)
@click.option(
    "--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="Tracks as JSON."
)
@click.option(
    "--gallery",
    "gallery_path",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Name the tracks from this gallery.",
)
@click.option(
    "--faces", type=click.Path(file_okay=False, path_type=Path), help="Best face of each track."
)
@click.option(
    "--every",
    default=None,
    type=click.IntRange(min=1),
    help="Detect in every N-th frame; tracks bridge the others. Default: about 12 detections "
    "per second (every 2nd frame at 25-30 fps, every frame below 19 fps).",
)
@click.option(
    "--min-track",
    default=3,
    show_default=True,
    type=click.IntRange(min=1),
    help="Drop tracks detected in fewer frames (flickering false detections).",
)
@click.option("--cluster", is_flag=True, help="Group unnamed tracks by person: 'person 1', ...")
@_RECOGNIZER
def video(
    video,
    out,
    json_path,
    gallery_path,
    faces,
    every,
    min_track,
    cluster,
    model,
    align,
    device,
    precision,
) -> None:
    """Who appears in VIDEO, when and where: detect, track and (with --gallery) name faces.

    Prints one line per track; --out draws them on a copy of the video, --json writes every
    box, --faces saves each track's best face.
    """
    import warnings

    from faceprint.video import FaceTracker, save_best_faces, track_video, write_annotated

    require("av", "video", "faceprint video")
    if out is not None:
        if out.suffix.lower() not in _VIDEO_SUFFIXES:
            raise click.BadParameter(
                f"{str(out)!r} needs a video suffix: one of {', '.join(_VIDEO_SUFFIXES)}",
                param_hint="--out",
            )
        if out.resolve() == video.resolve():
            raise click.BadParameter("it would overwrite the input video", param_hint="--out")
    gallery = None
    if gallery_path is not None:
        gallery = _open_gallery(gallery_path, device=device)
        recognizer = gallery.recognizer
    else:
        recognizer = _recognizer(model, align, device, precision)
    tracker = FaceTracker(recognizer, gallery)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        try:
            result = track_video(video, tracker, every, min_track, cluster, progress=True)
        except FaceprintError as e:
            _error(e)
            sys.exit(1)
    damaged = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    for message in damaged:
        tqdm.write(f"warning: {message}", file=sys.stderr)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(result.to_dict()))
    if faces is not None:
        save_best_faces(result.tracks, faces)
    if out is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # said once above
            write_annotated(video, result, out, progress=True)
    info = result.info
    click.echo(
        f"{len(result.tracks)} tracks in {result.frames} frames ({info.width}x{info.height}, "
        f"{info.fps:g} fps, faces detected in {_every_nth_frame(result.every)}); "
        f"{result.seconds:.1f} s, {result.frames / result.seconds:.1f} frames/s"
    )
    for track in result.tracks:
        d = track.to_dict()
        name = d["identity"] or ("unknown" if gallery is not None else "")
        distance = "" if d["distance"] is None else f"  distance {d['distance']:.3f}"
        click.echo(
            f"#{d['id']:<3} {name:<24} {d['start_s']:7.2f}-{d['end_s']:.2f} s  "
            f"{len(d['boxes'])} detections{distance}"
        )
    written = [str(p) for p in (out, json_path, faces) if p is not None]
    if written:
        click.echo(f"-> {', '.join(written)}")
    _finish(len(damaged), 1, "videos (damaged)")


@main.command()
@click.argument("model")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["onnx", "torchscript"]),
    default="onnx",
    show_default=True,
    help="ONNX (metadata props) or TorchScript (extra file faceprint.json).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Folder for the exported file(s).",
)
@click.option("--opset", default=17, show_default=True, type=int, help="ONNX opset (13-21).")
@click.option("--force", is_flag=True, help="Replace existing files.")
def export(model, fmt, out, opset, force) -> None:
    """Export MODEL (a registry name, a model file, or mtcnn for its three networks).

    Embedders take (B, 3, S, S) standardized crops and return (B, D) unit embeddings; P-Net
    takes any height and width, R-Net and O-Net batches of 24 and 48 px crops. Each file says
    how to feed it (standardization, sizes, source) in its metadata.
    """
    from faceprint.export import export as export_model
    from faceprint.export import read_facts

    try:
        written = export_model(model, fmt, out, opset, force)
    except FaceprintError as e:
        raise click.UsageError(str(e)) from None
    for path in written:
        facts = read_facts(path)
        click.echo(f"{path}: {facts['input']}")


@main.command()
@click.option(
    "--out",
    default="faceprint-demo.png",
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    callback=_picture_file,
    help="Where to write the picture of both comparisons.",
)
@_MODEL
@_DEVICE
def demo(out, model, device) -> None:
    """Detect, align, embed and verify on built-in pictures (no photo of your own needed)."""
    from faceprint.demo import run_demo

    try:
        lines = run_demo(out, model=model, device=device)
    except FaceprintError as e:
        raise click.ClickException(str(e)) from None
    for line in lines:
        click.echo(line)


def _open_gallery(
    path: Path,
    model: str | None = None,
    align: str | None = None,
    vectors: str | None = None,
    create: bool = False,
    threshold: float | None = None,
    far: float = DEFAULT_FAR,
    device: str | None = None,
):
    from faceprint.gallery import Gallery

    try:
        return Gallery(
            path,
            model=model,
            align=align,
            vectors=vectors,
            create=create,
            threshold=threshold,
            far=far,
            device=device,
        )
    except FaceprintError as e:
        raise click.ClickException(str(e)) from None


def _image_files(inputs, required: bool = True) -> list[Path]:
    """Image files of INPUTS (folders are searched recursively, by suffix); with ``required``,
    none at all is a usage error (exit 2)."""
    from faceprint.images import IMAGE_SUFFIXES, image_files

    out = []
    for item in inputs:
        out += image_files(item) if item.is_dir() else [item]
    if required and not out:
        names = ", ".join(str(i) for i in inputs)
        raise click.UsageError(
            f"no image files in {names} (looked for {', '.join(IMAGE_SUFFIXES)})"
        )
    return out


_GALLERY = click.option(
    "--gallery",
    "gallery_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Gallery file.",
)
_VECTORS = click.option(
    "--vectors",
    default=None,
    help="Milvus URI for the vectors (server URL or Milvus Lite .db file); "
    "default: embedded FAISS.",
)


@main.command()
@_GALLERY
@click.argument("args", nargs=-1, required=True)
@click.option(
    "--model", default=None, help=f"Embedding model of a new gallery (default {DEFAULT_MODEL})."
)
@click.option(
    "--align",
    type=click.Choice(list(ALIGN_METHODS)),
    default=None,
    help="Alignment of a new gallery (default: the model's own).",
)
@click.option(
    "--largest",
    "choice",
    flag_value="largest",
    help="Enrol the largest face of every photo, even among faces of similar size.",
)
@click.option(
    "--strict", "choice", flag_value="strict", help="Enrol only photos with exactly one face."
)
@_VECTORS
@_DEVICE
def enroll(gallery_path, args, model, align, choice, vectors, device) -> None:
    """Enrol faces: NAME IMAGE... for one person, or DIR holding one folder per person.

    A photo with several faces is enrolled by the face that is clearly its subject: the
    largest by twice the area, or among faces of similar size the one at most half as far from
    the centre as any other. Photos where none stands out are refused as ambiguous (--largest
    takes the largest anyway, --strict wants exactly one face).
    Re-running skips photos already enrolled, so an interrupted enrolment resumes where it
    stopped. Exit status 1 when any photo was not enrolled.
    """
    first = Path(args[0])
    if len(args) == 1 and first.is_dir():
        folders = sorted(d for d in first.iterdir() if d.is_dir())
        # A person's empty folder is passed over; only no image at all is a usage error.
        people = [(d.name, _image_files([d], required=False)) for d in folders]
    elif len(args) >= 2:
        people = [(args[0], _image_files([Path(a) for a in args[1:]], required=False))]
    else:
        raise click.UsageError("give NAME IMAGE... or a DIR with one folder per person")
    total = sum(len(p) for _, p in people)
    if total == 0:
        raise click.UsageError(f"no image files in {', '.join(args[1:] or args)}")
    gallery = _open_gallery(gallery_path, model, align, vectors, create=True, device=device)
    added = skipped = rejected = 0
    with gallery, tqdm(total=total, desc="enrolling", unit="img") as bar:
        for name, paths in people:
            for path in paths:
                report = gallery.add(name, path, faces=choice or "dominant")
                added += len(report.added)
                skipped += len(report.skipped)
                for label, why in report.rejected.items():
                    rejected += 1
                    hint = "; --largest takes the largest" if label in report.ambiguous else ""
                    _error(f"not enrolled: {label}: {why}{hint}")
                bar.update(1)
        identities = len(gallery.list())
        _report_ignored(gallery.recognizer)
    click.echo(
        f"enrolled {added}, already there {skipped}, rejected {rejected}; {identities} "
        f"identities in {gallery_path}"
    )
    _finish(rejected, total, "photos")


@main.command()
@_GALLERY
@click.argument("images", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON list, one entry per image.")
@click.option(
    "--annotate",
    type=click.Path(path_type=Path),
    help="Draw the names into this PNG/JPEG; for several images, a folder of <image>.png files.",
)
@click.option("-k", default=1, show_default=True, help="Candidate identities per face.")
@_far_option(
    DEFAULT_FAR,
    "Open-set false-alarm rate: the fraction of never-enrolled people given a name. The "
    "threshold follows from it and the number of enrolled identities.",
)
@click.option(
    "--threshold",
    type=float,
    default=None,
    help="A fixed distance beyond which a face is unknown, instead of the --far threshold.",
)
@_VECTORS
@_DEVICE
def identify(gallery_path, images, as_json, annotate, k, far, threshold, vectors, device) -> None:
    """Who is in each photo? Every face is named from the gallery, or "unknown"."""
    from faceprint.drawing import BOX_COLOUR, UNKNOWN_COLOUR
    from faceprint.drawing import annotate as draw
    from faceprint.images import load_image

    paths = _image_files(images)
    gallery = _open_gallery(
        gallery_path, vectors=vectors, threshold=threshold, far=far, device=device
    )
    recognizer = gallery.recognizer
    out, failed = [], 0
    with gallery:
        for path in tqdm(paths, desc="identifying", unit="img", disable=len(paths) < 2):
            try:
                image = load_image(path)
                found = recognizer.identify(image, gallery, k=k)
            except FaceprintError as e:
                failed += 1
                _error(e)
                out.append({"image": str(path), "error": str(e), "faces": []})
                continue
            faces = [
                {
                    "box": [round(float(v), 1) for v in f.box],
                    "identity": ident.name,
                    "distance": round(ident.distance, 4),
                    "candidates": [
                        {"identity": m.name, "distance": round(m.distance, 4)}
                        for m in ident.matches
                    ],
                }
                for f, ident in found
            ]
            out.append({"image": str(path), "faces": faces})
            if annotate:
                boxes = np.stack([f.box for f, _ in found]) if found else None
                labels = [f"{i.name} {i.distance:.2f}" for _, i in found]
                colours = [BOX_COLOUR if i.known else UNKNOWN_COLOUR for _, i in found]
                target = _annotation_path(annotate, path, len(paths))
                draw(image, boxes, labels, colours=colours).save(target)
            if not as_json:
                names = (
                    ", ".join(f"{f['identity']} ({f['distance']:.3f})" for f in faces) or "no face"
                )
                tqdm.write(f"{path}: {names}")
    _report_ignored(recognizer)
    if as_json:
        click.echo(json.dumps(out, indent=2))
    _finish(failed, len(paths), "images")


@main.group(name="gallery")
def gallery_group() -> None:
    """Manage a gallery: list, remove, rename, export, import."""


@gallery_group.command("list")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON list of identities.")
def gallery_list(path, as_json) -> None:
    """Identities with their face counts."""
    with _open_gallery(path) as gallery:
        rows = gallery.list()
        if as_json:
            click.echo(
                json.dumps([{"name": r.name, "faces": r.faces, "created": r.created} for r in rows])
            )
            return
        click.echo(f"{path}: {gallery.model}, {len(rows)} identities, {len(gallery)} faces")
        for r in rows:
            click.echo(f"  {r.name}: {r.faces} face(s)")


@gallery_group.command("remove")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("name")
def gallery_remove(path, name) -> None:
    """Remove identity NAME and its faces."""
    with _open_gallery(path) as gallery:
        try:
            n = gallery.remove(name)
        except FaceprintError as e:
            raise click.ClickException(str(e)) from None
    click.echo(f"removed {name} ({n} faces)")


@gallery_group.command("rename")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("old")
@click.argument("new")
def gallery_rename(path, old, new) -> None:
    """Rename identity OLD to NEW."""
    with _open_gallery(path) as gallery:
        try:
            gallery.rename(old, new)
        except FaceprintError as e:
            raise click.ClickException(str(e)) from None
    click.echo(f"renamed {old} -> {new}")


@gallery_group.command("export")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
def gallery_export(path, out) -> None:
    """Write every face, with embeddings and records, to OUT (.npz)."""
    with _open_gallery(path) as gallery:
        written = gallery.export(out)
        n = len(gallery)
    click.echo(f"exported {n} faces -> {written}")


@gallery_group.command("import")
@click.argument("args", nargs=-1, required=True)
@click.option(
    "--gallery",
    "gallery_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The gallery (created if new); without it: PATH SOURCE.",
)
@_VECTORS
@click.option(
    "--name-from",
    type=click.Choice(["parent-dir"]),
    default="parent-dir",
    show_default=True,
    help="Dataset import: each face's name is its image's folder.",
)
def gallery_import(args, gallery_path, vectors, name_from) -> None:
    """Merge SOURCE into a gallery: an exported .npz, or an embed job's Parquet dataset folder
    (streamed, never loaded whole).

    \b
    faceprint gallery import OUT_DIR --gallery people.db [--vectors URI]
    faceprint gallery import people.db exported.npz
    """
    from faceprint.gallery.exchange import dataset_model, exported_model, import_face_rows

    if gallery_path is None and len(args) == 2:
        gallery_path, source = Path(args[0]), Path(args[1])
    elif gallery_path is not None and len(args) == 1:
        source = Path(args[0])
    else:
        raise click.UsageError("give SOURCE --gallery PATH, or PATH SOURCE")
    if not source.exists():
        raise click.BadParameter(f"{source}: no such file or folder", param_hint="SOURCE")
    try:
        made_by = dataset_model(source) if source.is_dir() else exported_model(source)
        model, align = made_by.rsplit("/", 1)
    except FaceprintError as e:
        raise click.ClickException(str(e)) from None
    with _open_gallery(gallery_path, model, align, vectors=vectors, create=True) as gallery:
        try:
            if source.is_dir():
                n = import_face_rows(gallery, source, name_from)
            else:
                n = gallery.import_(source)
        except FaceprintError as e:
            raise click.ClickException(str(e)) from None
    click.echo(f"imported {n} faces into {gallery_path}")


@main.command()
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path),
    help="A directory (one folder per person, plus noise/, holding face crops) or a .csv file.",
)
@_RECOGNIZER
@click.option(
    "--eps", type=float, default=None, help="Use DBSCAN with this L2 radius instead of HDBSCAN."
)
@click.option(
    "--min-samples", default=2, show_default=True, help="Faces needed to found a cluster."
)
@click.option(
    "--all-faces",
    is_flag=True,
    help="Cluster every detected face, bystanders included (default: each photo's subject, "
    "or all its faces where none is clearly the subject).",
)
def cluster(directory, out, model, align, device, precision, eps, min_samples, all_faces) -> None:
    """Group the faces of unlabeled photos in DIRECTORY by person (HDBSCAN, or DBSCAN with
    --eps). A folder per person gets a crop of each face, named after its photo."""
    import csv

    from faceprint.alignment import crop_box
    from faceprint.gallery.cluster import cluster_embeddings
    from faceprint.gallery.enroll import subject_faces
    from faceprint.images import image_size, load_image

    paths = _image_files([directory])
    recognizer = _recognizer(model, align, device, precision)
    rows, failed = [], 0
    for path in tqdm(paths, desc="embedding", unit="img"):
        try:
            found = recognizer.embed(path)
        except FaceprintError as e:
            failed += 1
            _error(e)
            continue
        subjects = found if all_faces else subject_faces(found, image_size(path))
        kept = {id(f) for f in subjects}
        rows += [(path, i, f) for i, f in enumerate(found) if id(f) in kept]
    labels = cluster_embeddings(
        np.stack([f.embedding for _, _, f in rows]) if rows else np.zeros((0, 1)),
        eps=eps,
        min_samples=min_samples,
    )
    if out.suffix.lower() == ".csv":
        out.parent.mkdir(parents=True, exist_ok=True)
        with out.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["path", "face", "cluster", "x1", "y1", "x2", "y2"])
            for (path, i, face), label in zip(rows, labels, strict=True):
                cells = [round(float(v), 1) for v in face.box]
                writer.writerow([path, i, "noise" if label < 0 else label, *cells])
    else:
        for (path, i, face), label in zip(rows, labels, strict=True):
            folder = out / ("noise" if label < 0 else f"person_{label:03d}")
            folder.mkdir(parents=True, exist_ok=True)
            crop_box(load_image(path), face.box, 160, 32).save(folder / f"{path.stem}_{i}.png")
    _report_ignored(recognizer)
    n = len(set(labels[labels >= 0].tolist())) if len(labels) else 0
    click.echo(f"{len(rows)} faces -> {n} people, {int((labels < 0).sum())} noise -> {out}")
    _finish(failed, len(paths), "images")


_CROP_ALIGN = click.option(
    "--align",
    type=click.Choice(["box", "similarity"]),
    default="box",
    show_default=True,
    help="How faces are cut: detection box with margin, or 5-point similarity warp "
    "(train: ignored with --cropped).",
)


@main.command()
@click.argument("src_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("out_dir", type=click.Path(file_okay=False, path_type=Path))
@_CROP_ALIGN
@click.option(
    "--size",
    type=click.IntRange(32, 1024),
    default=160,
    show_default=True,
    help="Side of the square crops, in pixels.",
)
@click.option(
    "--margin",
    type=float,
    default=None,
    help="Margin around the box in output pixels (--align box); default: the model's.",
)
@_MODEL
@_DEVICE
def crop(src_dir, out_dir, align, size, margin, model, device) -> None:
    """Align the face of every photo of SRC_DIR/<person>/ into OUT_DIR/<person>/.

    Resumable: crops already in OUT_DIR are kept. Photos without a usable face (none, several
    of similar size, unreadable) are listed with the reason in OUT_DIR/skipped.csv.
    """
    from faceprint.alignment import Alignment
    from faceprint.training.data import crop_tree, scan_folder
    from faceprint.weights.factory import get_weights

    try:
        record = get_weights(model)
        folder = scan_folder(src_dir, "SRC_DIR")
    except FaceprintError as e:
        raise click.UsageError(str(e)) from None
    parameters = dict(record.alignment.get(align, {}), image_size=size)
    if margin is not None:
        if align != "box":
            raise click.UsageError("--margin goes with --align box")
        parameters["margin"] = margin
    report = crop_tree(
        folder,
        out_dir,
        Alignment(method=align, **parameters),
        record.min_face_probability or 0.0,
        record.min_face_size or 0.0,
        device=device,
    )
    if folder.ignored:
        _error(folder.ignored_note())
    click.echo(
        f"{report.written} crops written, {report.kept} already there -> {out_dir}"
        + (
            f"; {len(report.skipped)} photos skipped (see {out_dir / 'skipped.csv'})"
            if report.skipped
            else ""
        )
    )
    _finish(report.unreadable, len(folder.paths), "photos (unreadable)")


@main.command()
@click.argument("data_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Run folder: model.pt, summary.json, metrics.csv, curves.png, checkpoint.",
)
@click.option(
    "--val",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Validation photos of the same people; default: --val-split of DATA_DIR.",
)
@click.option(
    "--val-split",
    type=float,
    default=0.3,
    show_default=True,
    help="Fraction of each person's photos held out for validation.",
)
@click.option(
    "--model",
    default=DEFAULT_MODEL,
    show_default=True,
    help="Registry name or faceprint model file to fine-tune.",
)
@click.option("--scratch", is_flag=True, help="Start from random weights instead of --model.")
@click.option(
    "--loss",
    type=click.Choice(["softmax", "arcface", "triplet"]),
    default="softmax",
    show_default=True,
    help="Cross-entropy on a linear head, ArcFace, or semi-hard triplet loss.",
)
@click.option(
    "--epochs",
    type=click.IntRange(1),
    default=None,
    help="Passes over the training images; default by data size: "
    f"{SMALL_SET_DEFAULTS['epochs']} below {SMALL_SET_PHOTOS} photos per person, else "
    f"{LARGE_SET_DEFAULTS['epochs']}.",
)
@click.option(
    "--batch-size", type=click.IntRange(2), default=32, show_default=True, help="Images per step."
)
@click.option(
    "--lr",
    type=click.FloatRange(0, min_open=True),
    default=None,
    help="Adam learning rate of the classifier head; divided by 10 after epochs 5 and 10. "
    f"Default by data size: {SMALL_SET_DEFAULTS['lr']:g} below {SMALL_SET_PHOTOS} photos per "
    f"person, else {LARGE_SET_DEFAULTS['lr']:g}.",
)
@click.option(
    "--pretrained-lr-scale",
    type=click.FloatRange(0),
    default=0.1,
    show_default=True,
    help="When fine-tuning, pretrained layers learn at --lr times this (so the embedding "
    "keeps what it knew about other people).",
)
@click.option(
    "--freeze",
    default="auto",
    show_default=True,
    help="Blocks not trained: none, backbone (train the bottleneck and head only), a "
    "block name (it and all before it, e.g. repeat_3), or auto (by data size when "
    f"fine-tuning: {SMALL_SET_DEFAULTS['freeze']} below {SMALL_SET_PHOTOS} photos per person, "
    f"else {LARGE_SET_DEFAULTS['freeze']}; none from scratch).",
)
@click.option(
    "--head",
    type=click.Choice(HEADS),
    default="auto",
    show_default=True,
    help="The classifier's start: imprint (each person's mean embedding, so training starts "
    "where nearest-class-mean classification is), random, or auto (imprint when fine-tuning).",
)
@_CROP_ALIGN
@click.option(
    "--cropped", is_flag=True, help="DATA_DIR (and --val) hold aligned crops from `faceprint crop`."
)
@click.option(
    "--workers",
    type=click.IntRange(0),
    default=2,
    show_default=True,
    help="Data-loading worker processes.",
)
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seeds the split, the sampling and the initial weights.",
)
@click.option("--resume", is_flag=True, help="Continue the run in --out from its checkpoint.")
@_PRECISION
@_DEVICE
def train(
    data_dir,
    out,
    val,
    val_split,
    model,
    scratch,
    loss,
    epochs,
    batch_size,
    lr,
    pretrained_lr_scale,
    freeze,
    head,
    align,
    cropped,
    workers,
    seed,
    resume,
    precision,
    device,
) -> None:
    """Fine-tune (or train from scratch) on DATA_DIR/<person>/<photo>.

    Writes OUT/model.pt, which every command takes as --model, with OUT/summary.json,
    metrics.csv and curves.png. Runs under torchrun too (python -m faceprint train ...).
    """
    from faceprint.errors import TrainingError
    from faceprint.training import TrainConfig
    from faceprint.training import train as run_training

    config = TrainConfig(
        data=data_dir,
        out=out,
        val=val,
        val_split=val_split,
        model=model,
        scratch=scratch,
        loss=loss,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        pretrained_lr_scale=pretrained_lr_scale,
        freeze=freeze,
        head=head,
        device=device,
        workers=workers,
        seed=seed,
        cropped=cropped,
        align=align,
        precision=precision,
        resume=resume,
    )
    try:
        summary = run_training(config)
    except TrainingError as e:
        _error(e)
        sys.exit(1)
    except FaceprintError as e:
        raise click.UsageError(str(e)) from None
    if int(os.environ.get("RANK", "0")) == 0:
        click.echo(_training_result(summary))
        _finish(summary["unreadable_photos"], summary["photos"], "photos (unreadable)")


def _training_result(summary: dict) -> str:
    """The last lines of `faceprint train`: validation top-1 beside the baseline's."""
    kept = (
        f"epoch {summary['best_epoch']} of {summary['epochs']}"
        if summary["beat_baseline"]
        else f"no epoch of {summary['epochs']} beat the baseline: model.pt is {summary['kept']}"
    )
    return (
        f"val top-1 {summary['val_top1']:.4f}, baseline {summary['baseline_top1']:.4f} "
        f"(nearest class centre of the starting model); kept {kept}\n"
        f"{summary['classes']} people, threshold {summary['threshold']:.4f} -> {summary['model']}"
    )


@main.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--model",
    required=True,
    help="A model file from `faceprint train` (its classes are the people).",
)
@click.option(
    "--top-k", type=click.IntRange(1), default=5, show_default=True, help="Names listed per face."
)
@_far_option(
    DEFAULT_FAR,
    "Fraction of people the model did not learn who get a name anyway: a face farther from "
    "its most likely person's class centre than this rate allows is unknown.",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_DEVICE
def classify(images, model, top_k, far, as_json, device) -> None:
    """Name each face in IMAGES among the people a trained model learned, with probabilities,
    or "unknown" for someone it did not learn."""
    from faceprint.training.classify import classify_faces

    recognizer = _recognizer(model, "box", device)
    if not recognizer.weights.classes:
        raise click.BadParameter(
            f"{model} has no named classes; pass a model file from `faceprint train`",
            param_hint="--model",
        )
    paths = _image_files(images)
    report, failed = [], 0
    for path in tqdm(paths, desc="classifying", unit="img", disable=as_json):
        try:
            faces = classify_faces(recognizer, path, top_k, far)
        except FaceprintError as e:
            failed += 1
            _error(e)
            report.append({"image": str(path), "error": str(e), "faces": []})
            continue
        report.append({"image": str(path), "faces": faces})
        if not as_json:
            tqdm.write(f"{path}: {len(faces)} face(s)")
            for i, face in enumerate(faces):
                names = ", ".join(f"{c['name']} {c['probability']:.3f}" for c in face["top"])
                if face["threshold"] is None:
                    tqdm.write(f"  {i}: {names}")
                else:
                    side = "<" if face["name"] != UNKNOWN else ">="
                    tqdm.write(
                        f"  {i}: {face['name']} (distance to {face['top'][0]['name']} "
                        f"{face['distance']:.3f} {side} {face['threshold']:.3f}); {names}"
                    )
    if as_json:
        click.echo(json.dumps(report, indent=2))
    _report_ignored(recognizer)
    _finish(failed, len(paths), "images")


@main.group()
def models() -> None:
    """List and fetch pretrained weights."""


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def models_list(as_json: bool) -> None:
    """Every registered model: architecture, dimension, LFW accuracy, cached or not."""
    from faceprint.weights.factory import get_weights, list_models
    from faceprint.weights.fetch import cache_dir

    def cached(w) -> bool:
        files = [get_weights(m).filename for m in w.members] or [w.filename]
        return all((cache_dir() / f).is_file() for f in files)

    rows = []
    for w in map(get_weights, list_models()):
        rows.append(
            {
                "name": w.name,
                "architecture": w.architecture,
                "dim": w.embedding_size,
                "classes": w.num_classes,
                "lfw_accuracy": w.lfw_accuracy,
                "cached": cached(w),
                "description": w.description,
            }
        )
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    width = max(15, *(len(r["name"]) for r in rows))
    click.echo(f"{'name':<{width}} {'architecture':<20} {'dim':>4} {'LFW':>7}  cached")
    for r in rows:
        lfw = f"{r['lfw_accuracy']:.4f}" if r["lfw_accuracy"] else "-"
        click.echo(
            f"{r['name']:<{width}} {r['architecture']:<20} {r['dim'] or '-':>4} {lfw:>7}  "
            f"{'yes' if r['cached'] else 'no'}"
        )
    click.echo(f"cache: {cache_dir()}")


@models.command("fetch")
@click.argument("name")
def models_fetch(name: str) -> None:
    """Fetch (and verify, convert, cache) the weights called NAME."""
    from faceprint.weights.factory import get_weights
    from faceprint.weights.fetch import weights_path

    try:
        record = get_weights(name)
        for member in record.members or (name,):  # an ensemble: each of its members
            click.echo(f"{member}: {weights_path(get_weights(member))}")
    except FaceprintError as e:
        raise click.ClickException(str(e)) from None


def _size(ctx: click.Context, param: click.Parameter, value: str) -> int:
    from faceprint.serve.limits import parse_size

    try:
        return parse_size(value)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None


def _rate(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    """``"20/s"``, ``"600/min"`` or ``"20"`` -> requests a second."""
    if value is None:
        return None
    count, _, unit = value.partition("/")
    seconds = {"": 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}.get(unit.strip())
    try:
        rate = float(count) / seconds if seconds else -1.0
    except ValueError:
        rate = -1.0
    if rate <= 0:
        raise click.BadParameter(f"{value!r}: write N/s, N/min or N/h with N > 0, e.g. 20/s")
    return rate


_LOOPBACK = ("127.0.0.1", "::1", "localhost")


@main.command()
@click.option(
    "--gallery",
    "gallery_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Gallery file for /v1/identify and enrolment (created if missing).",
)
@_VECTORS
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="TCP port."
)
@click.option(
    "--keys",
    "keys_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="API keys file (faceprint keys create). Without it every caller may do everything, "
    "so it is refused on any address but the loopback.",
)
@click.option(
    "--max-bytes",
    default=str(ServeConfig.max_bytes),
    show_default=True,
    callback=_size,
    help="Largest request body (413 beyond), e.g. 10MB, 512KB.",
)
@click.option(
    "--max-pixels",
    default=ServeConfig.max_pixels,
    show_default=True,
    type=click.IntRange(1),
    help="Largest image in pixels, judged from its header before decoding (400 beyond).",
)
@click.option(
    "--rate", default=None, callback=_rate, help="Requests per key, e.g. 20/s (429 beyond)."
)
@click.option(
    "--batch-size",
    default=ServeConfig.batch_size,
    show_default=True,
    type=click.IntRange(1),
    help="Most images per detector/embedder batch.",
)
@click.option(
    "--batch-wait",
    default=ServeConfig.batch_wait * 1000.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Milliseconds to wait for concurrent requests to batch with; 0 turns batching off.",
)
@click.option(
    "--queue",
    "queue_size",
    default=ServeConfig.queue_size,
    show_default=True,
    type=click.IntRange(1),
    help="Most requests waiting for the networks (503 beyond): bounds memory.",
)
@click.option(
    "--model",
    default=None,
    help=f"Embedding model (default: the gallery's, else {DEFAULT_MODEL}).",
)
@_ALIGN
@_DEVICE
@_PRECISION
@_BACKEND
@_CALIBRATION
def serve(
    gallery_path,
    vectors,
    host,
    port,
    keys_path,
    max_bytes,
    max_pixels,
    rate,
    batch_size,
    batch_wait,
    queue_size,
    model,
    align,
    device,
    precision,
) -> None:
    """Serve detection, verification and identification over HTTP (pip install
    'faceprint[serve]'). API docs at /docs, a page to try it at /."""
    for module in ("fastapi", "python_multipart", "prometheus_client", "uvicorn"):
        require(module, "serve", "faceprint serve")
    import uvicorn

    from faceprint.serve import KeyFile, create_app

    if keys_path is None and host not in _LOOPBACK:
        raise click.UsageError(
            f"refusing to serve on {host} without --keys: anyone could enrol and delete faces. "
            "Make a key with `faceprint keys create KEYS_FILE NAME --scope admin`."
        )
    config = ServeConfig(
        gallery=gallery_path,
        vectors=vectors,
        keys=keys_path,
        model=model,
        align=align,
        device=device,
        precision=precision,
        backend=_from_context("--backend", ServeConfig.backend),
        calibration=_from_context("--calibration"),
        max_bytes=max_bytes,
        max_pixels=max_pixels,
        rate=rate,
        batch_size=batch_size,
        batch_wait=batch_wait / 1000.0,
        queue_size=queue_size,
    )
    try:
        if keys_path is not None:
            create = f"`faceprint keys create {keys_path} NAME --scope admin`"
            if not keys_path.exists():
                raise click.UsageError(f"{keys_path}: no such keys file; make one with {create}")
            if not any(k.revoked is None for k in KeyFile(keys_path).records()):
                raise click.UsageError(f"{keys_path} holds no valid key; add one with {create}")
        app = create_app(config)
    except FaceprintError as e:
        raise click.UsageError(str(e)) from None
    service = app.state.service
    shown = "[::1]" if host == "::1" else host
    click.echo(f"faceprint serve: http://{shown}:{port}  (try it at /, API docs at /docs)")
    click.echo(
        f"model {service.recognizer.name} ({service.recognizer.precision}, {config.backend})"
        + (
            f", gallery {gallery_path}: {len(service.gallery.list())} identities"
            if gallery_path
            else ""
        )
    )
    click.echo(
        f"keys: {keys_path}"
        if keys_path
        else "no --keys: every caller on this machine may do everything"
    )
    batching = (
        f"batches of up to {batch_size} images, {batch_wait:g} ms wait"
        if batch_wait
        else "batching off"
    )
    click.echo(
        f"{batching}; queue {queue_size}; bodies up to {max_bytes} bytes, images up to "
        f"{max_pixels} pixels" + (f"; {rate:g} requests/s per key" if rate else "")
    )
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_keep_alive=5)


@main.group()
def keys() -> None:
    """API keys of faceprint serve: create, list and revoke them."""


_KEYS_FILE = click.argument("keys_file", type=click.Path(dir_okay=False, path_type=Path))


def _key_file(path: Path):
    from faceprint.serve.keys import KeyFile

    try:
        return KeyFile(path)
    except FaceprintError as e:
        raise click.UsageError(str(e)) from None


@keys.command("create")
@_KEYS_FILE
@click.argument("name")
@click.option(
    "--scope",
    type=click.Choice(SCOPES),
    default="read",
    show_default=True,
    help="read: detect, embed, verify, identify; write: also enrol and delete; admin: also "
    "/metrics.",
)
def keys_create(keys_file, name, scope) -> None:
    """Add a key called NAME to KEYS_FILE and print it (only this once: the file keeps a salted
    hash)."""
    try:
        key = _key_file(keys_file).create(name, scope)
    except FaceprintError as e:
        raise click.UsageError(str(e)) from None
    click.echo(key)
    click.echo(f"{name} ({scope}) added to {keys_file}; this key is not shown again", err=True)


@keys.command("list")
@_KEYS_FILE
@click.option("--json", "as_json", is_flag=True, help="Print JSON (no hashes).")
def keys_list(keys_file, as_json) -> None:
    """List the keys of KEYS_FILE: id, name, scope, created, revoked."""
    import datetime

    records = _key_file(keys_file).records()
    rows = [
        {"id": k.id, "name": k.name, "scope": k.scope, "created": k.created, "revoked": k.revoked}
        for k in records
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return

    def when(t):
        return "-" if t is None else datetime.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M")

    click.echo(f"{'id':<12}  {'name':<24} {'scope':<6} {'created':<16}  revoked")
    for r in rows:
        click.echo(
            f"{r['id']:<12}  {r['name']:<24} {r['scope']:<6} {when(r['created']):<16}  "
            f"{when(r['revoked'])}"
        )


@keys.command("revoke")
@_KEYS_FILE
@click.argument("name_or_id")
def keys_revoke(keys_file, name_or_id) -> None:
    """Revoke the key called NAME_OR_ID (a running server refuses it from its next request)."""
    try:
        record = _key_file(keys_file).revoke(name_or_id)
    except FaceprintError as e:
        raise click.UsageError(str(e)) from None
    click.echo(f"revoked {record.name} ({record.id})")


if __name__ == "__main__":
    main()
