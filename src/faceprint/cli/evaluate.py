"""``faceprint eval lfw`` and ``faceprint similarity``: how well a model does."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import click

from faceprint.cli._common import (
    RECOGNIZER_OPTIONS,
    detector_options,
    far_option,
    finish,
    from_context,
    main,
    make_recognizer,
    picture_file,
    report_error,
    report_ignored,
)
from faceprint.cli._outputs import (
    FORCE_OPTION,
    Writes,
    check_outputs,
)
from faceprint.errors import listed
from faceprint.pipeline import (
    DEFAULT_VERIFY_FAR,
)


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
@RECOGNIZER_OPTIONS
@detector_options
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    callback=picture_file,
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
@FORCE_OPTION
def eval_lfw(
    data,
    pairs,
    model,
    align,
    device,
    plot,
    as_json,
    no_cache,
    precision,
    crop_size,
    protocol,
    force,
) -> None:
    """LFW's 10-fold verification protocol (accuracy, AUC, EER, TAR@FAR=1e-3), or every pair."""
    from faceprint.evaluation.plots import plot_roc
    from faceprint.evaluation.verification import (
        evaluate,
        evaluate_all_pairs,
        join_pairs,
        read_lfw_pairs,
    )

    check_outputs([data, pairs], [Writes("--plot", plot)], force)
    images = data / "images" if (data / "images").is_dir() else data
    pairs_file = pairs or (
        data / "pairs.txt" if (data / "pairs.txt").is_file() else data.parent / "pairs.txt"
    )
    view1 = pairs_file.parent / "pairsDevTrain.txt"
    if precision == "int8" and from_context("--calibration") is None and view1.is_file():
        # Calibrated on View 1 only: View 2, the pairs scored here, stays unseen.
        train = read_lfw_pairs(view1, images)
        click.get_current_context().meta["--calibration"] = sorted(
            set(map(str, train.a)) | set(map(str, train.b))
        )
    recognizer = make_recognizer(model, align, device, precision)
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
            evaluate_all_pairs(recognizer, labelled, join_pairs(view1), cache=not no_cache), as_json
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
        click.echo(json.dumps(d | {"detector": recognizer.detector.settings}))
        return
    click.echo(
        f"model {recognizer.name}, detector {recognizer.detector.name}, {d['pairs']} pairs, "
        f"{d['images']} images"
    )
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
@RECOGNIZER_OPTIONS
@detector_options
@far_option(
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
@FORCE_OPTION
def similarity(
    ref, gens, model, align, device, precision, far, all_pairs, out, worst, as_json, force
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

    check_outputs([ref, *gens], [Writes("--out", out, folder=True, pictures=True)], force)
    recognizer = make_recognizer(model, align, device, precision, far=far)
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
            report_error(e)
            continue
        reports.append(
            compare_face_sets(ref_set, gen_set, recognizer.name, recognizer.threshold, all_pairs)
        )
    face_sets = [ref_set, *(r.gen_faces for r in reports)]
    unreadable = [why for f in face_sets for why in f.missed.values() if why.startswith("unread")]
    for why in unreadable:
        report_error(why.removeprefix("unreadable: "))
    if reports and out:
        save_similarity_files(reports, out, recognizer, worst)
    if as_json:
        for report in reports:
            click.echo(json.dumps(report.summary()))
    elif reports:
        _similarity_table(reports, report_labels(reports), ref_set, out)
    report_ignored(recognizer)
    images = sum(len(f.names) + len(f.missed) for f in face_sets)
    finish(failed + len(unreadable), failed + images, "inputs")


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
