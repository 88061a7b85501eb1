"""``faceprint enroll``, ``identify``, ``gallery ...`` and ``cluster``: who is this?"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
import numpy as np
from tqdm import tqdm

from faceprint.cli._common import (
    DEVICE_OPTION,
    DISTANCE,
    GALLERY_OPTION,
    GALLERY_RECOGNIZER_OPTIONS,
    OPEN_SET_OPTION,
    RECOGNIZER_OPTIONS,
    VECTORS_OPTION,
    GalleryLocation,
    detector_options,
    far_or_threshold,
    finish,
    gallery_file,
    gallery_recognizer,
    input_images,
    main,
    make_recognizer,
    open_gallery,
    report_error,
    report_ignored,
)
from faceprint.cli._outputs import (
    FORCE_OPTION,
    Writes,
    annotation_targets,
    check_outputs,
    output_names,
)
from faceprint.errors import FaceprintError
from faceprint.gallery.core import DEFAULT_FAR
from faceprint.pipeline import DEFAULT_MODEL
from faceprint.quality import DEFAULT_MIN_QUALITY


@main.command()
@GALLERY_OPTION
@click.argument("args", nargs=-1, required=True)
@GALLERY_RECOGNIZER_OPTIONS
@detector_options
@click.option(
    "--largest",
    "choice",
    flag_value="largest",
    help="Enrol the largest face of every photo, even among faces of similar size.",
)
@click.option(
    "--strict", "choice", flag_value="strict", help="Enrol only photos with exactly one face."
)
@click.option(
    "--min-quality",
    type=click.FloatRange(0.0, 1.0),
    default=DEFAULT_MIN_QUALITY,
    show_default=True,
    help="Skip photos whose face quality (0..1, see the quality guide) is under this; each "
    "is named with its score and counts as failed. 0 enrols any.",
)
@VECTORS_OPTION
def enroll(
    gallery_path, args, model, align, device, precision, choice, min_quality, vectors
) -> None:
    """Enrol faces: NAME IMAGE... for one person, or DIR holding one folder per person.

    A photo with several faces is enrolled by the face that is clearly its subject: the
    largest by twice the area, or among faces of similar size the one at most half as far from
    the centre as any other. Photos where none stands out are refused as ambiguous (--largest
    takes the largest anyway, --strict wants exactly one face), and so are photos whose face
    scores under --min-quality.
    Re-running skips photos already enrolled, so an interrupted enrolment resumes where it
    stopped. Exit status 1 when any photo was not enrolled.
    """
    first = Path(args[0])
    if len(args) == 1 and not first.is_dir():
        why = "no such folder" if not first.exists() else "not a folder"
        raise click.UsageError(
            f"give NAME IMAGE... or a DIR with one folder per person ({first}: {why})"
        )
    sources = [first] if len(args) == 1 else [Path(a) for a in args[1:]]
    for source in sources:
        if not source.exists():
            raise click.BadParameter(f"{source}: no such file or folder", param_hint="ARGS")
    check_outputs(sources, [Writes("--gallery", gallery_file(gallery_path), kept=True)], False)
    if len(args) == 1 and first.is_dir():
        folders = sorted(d for d in first.iterdir() if d.is_dir())
        # A person's empty folder is passed over; only no image at all is a usage error.
        people = [(d.name, input_images([d], required=False)) for d in folders]
    else:
        people = [(args[0], input_images(sources, required=False))]
    total = sum(len(p) for _, p in people)
    if total == 0:
        raise click.UsageError(f"no image files in {', '.join(args[1:] or args)}")
    if gallery_file(gallery_path) is None or gallery_path.exists():  # a database: opened
        gallery = open_gallery(gallery_path, model, align, vectors, create=True, device=device)
        gallery_recognizer(gallery, device, precision, align)
    else:  # the recognizer first: options that don't go together leave no new gallery behind
        model = model or DEFAULT_MODEL
        recognizer = make_recognizer(model, align, device, precision)
        gallery = open_gallery(
            gallery_path, model, recognizer.alignment.method, vectors, create=True, device=device
        )
        gallery.recognizer = recognizer
    added = skipped = rejected = 0
    with gallery, tqdm(total=total, desc="enrolling", unit="img") as bar:
        for name, paths in people:
            for path in paths:
                report = gallery.add(
                    name, path, faces=choice or "dominant", min_quality=min_quality
                )
                added += len(report.added)
                skipped += len(report.skipped)
                for label, why in report.rejected.items():
                    rejected += 1
                    hint = "; --largest takes the largest" if label in report.ambiguous else ""
                    why = why.removeprefix(f"{label}: ")  # an ImageError names the file too
                    report_error(f"not enrolled: {label}: {why}{hint}")
                for label, warning in report.outliers.items():
                    tqdm.write(f"warning: {label}: {warning}", file=sys.stderr)
                bar.update(1)
        identities = len(gallery.list())
        report_ignored(gallery.recognizer)
    click.echo(
        f"enrolled {added}, already there {skipped}, rejected {rejected}; {identities} "
        f"identities in {gallery.store.location}"
    )
    finish(rejected, total, "photos")


@main.command()
@GALLERY_OPTION
@click.argument("images", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON list, one entry per image.")
@click.option(
    "--annotate",
    type=click.Path(path_type=Path),
    help="Draw the names into this PNG/JPEG; for several images, a folder of <image>.png files.",
)
@click.option("-k", default=1, show_default=True, help="Candidate identities per face.")
@far_or_threshold(
    DEFAULT_FAR,
    "Open-set false-alarm rate: the fraction of never-enrolled people given a name. The "
    "threshold follows from it and the number of enrolled identities.",
    "A fixed distance beyond which a face is unknown, instead of the --far threshold.",
)
@OPEN_SET_OPTION
@VECTORS_OPTION
@GALLERY_RECOGNIZER_OPTIONS
@detector_options
@FORCE_OPTION
def identify(
    gallery_path,
    images,
    as_json,
    annotate,
    k,
    far,
    threshold,
    open_set,
    vectors,
    model,
    align,
    device,
    precision,
    force,
) -> None:
    """Who is in each photo? Every face is named from the gallery, or "unknown"."""
    from faceprint.drawing import BOX_COLOUR, UNKNOWN_COLOUR
    from faceprint.drawing import annotate as draw
    from faceprint.images import load_image

    file = gallery_file(gallery_path)
    if file is not None and not file.exists():
        raise click.BadParameter(f"{gallery_path}: no such gallery", param_hint="--gallery")
    paths = input_images(images)
    targets, annotated = annotation_targets(annotate, paths)
    check_outputs([file, *images], [annotated], force)
    gallery = open_gallery(
        gallery_path,
        model,
        align,
        vectors=vectors,
        threshold=threshold,
        far=far,
        device=device,
        open_set=open_set,
    )
    recognizer = gallery_recognizer(gallery, device, precision, align)
    out, failed = [], 0
    with gallery:
        for path in tqdm(paths, desc="identifying", unit="img", disable=len(paths) < 2):
            try:
                image = load_image(path)
                found = recognizer.identify(image, gallery, k=k)
            except FaceprintError as e:
                failed += 1
                report_error(e, path)
                out.append({"image": str(path), "error": str(e), "faces": []})
                continue
            faces = [
                {
                    "box": [round(float(v), 1) for v in f.box],
                    "quality": round(float(f.quality), 4),
                    "identity": ident.name,
                    "distance": round(ident.distance, 4),
                    "rule": ident.rule,
                    **({} if ident.score is None else {"margin": round(ident.score, 4)}),
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
                targets[path].parent.mkdir(parents=True, exist_ok=True)
                draw(image, boxes, labels, colours=colours).save(targets[path])
            if not as_json:
                names = (
                    ", ".join(f"{f['identity']} ({f['distance']:.3f})" for f in faces) or "no face"
                )
                tqdm.write(f"{path}: {names}")
    report_ignored(recognizer)
    if as_json:
        click.echo(json.dumps(out, indent=2))
    finish(failed, len(paths), "images")


@main.group(name="gallery")
def gallery_group() -> None:
    """Manage a gallery: list, remove, rename, export, import, reject, confirm."""


def _correct(gallery_path, images, name, action: str, device) -> None:
    """Apply ``action`` ("reject" or "confirm") of each image for ``name``; one line each."""
    file = gallery_file(gallery_path)
    if file is not None and not file.exists():
        raise click.BadParameter(f"{gallery_path}: no such gallery", param_hint="--gallery")
    paths = input_images(images)
    check_outputs(paths, [Writes("--gallery", file, kept=True)], False)
    failed = 0
    with open_gallery(gallery_path, device=device) as gallery:
        for path in paths:
            try:
                done = getattr(gallery, action)(path, name)
            except FaceprintError as e:
                failed += 1
                report_error(e, path)
                continue
            box = ", ".join(f"{v:.0f}" for v in done.box)
            if action == "reject":
                click.echo(f"{path}: the face at ({box}) is not {done.name} (negative {done.id})")
            else:
                added = f"added as face {done.id}" if done.id is not None else "enrolled before"
                click.echo(f"{path}: the face at ({box}) is {done.name} ({added})")
                if done.warning:
                    click.echo(f"warning: {path}: {done.warning}", err=True)
    finish(failed, len(paths), "images")


@gallery_group.command("reject")
@GALLERY_OPTION
@click.argument("images", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option(
    "--not",
    "name",
    required=True,
    help="The name the face was wrongly given; it and its near-duplicates never get it again.",
)
@DEVICE_OPTION
def gallery_reject(gallery_path, images, name, device) -> None:
    """Not this person: the face of each IMAGE nearest to NAME is never named NAME again.

    A negative is stored in the gallery: that face, and faces within 0.5 of it (the same photo
    re-saved, resized or cropped a little), are never given NAME, by any process, after
    reopening, export and import. Other photos of the same stranger still can be.
    """
    _correct(gallery_path, images, name, "reject", device)


@gallery_group.command("confirm")
@GALLERY_OPTION
@click.argument("image", nargs=1, type=click.Path(exists=True, path_type=Path))
@click.argument("name")
@DEVICE_OPTION
def gallery_confirm(gallery_path, image, name, device) -> None:
    """This is NAME: add the face of IMAGE to NAME.

    The face taken is the one nearest to the person, or, for a new person, the photo's
    subject. A photo far from NAME's other photos is added with a warning."""
    _correct(gallery_path, [image], name, "confirm", device)


@gallery_group.command("list")
@click.argument("path", type=GalleryLocation(exists=True))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON list of identities.")
def gallery_list(path, as_json) -> None:
    """Identities with their face counts."""
    with open_gallery(path) as gallery:
        rows = gallery.list()
        if as_json:
            click.echo(
                json.dumps([{"name": r.name, "faces": r.faces, "created": r.created} for r in rows])
            )
            return
        where = gallery.store.location
        click.echo(f"{where}: {gallery.model}, {len(rows)} identities, {len(gallery)} faces")
        for r in rows:
            click.echo(f"  {r.name}: {r.faces} face(s)")


@gallery_group.command("remove")
@click.argument("path", type=GalleryLocation(exists=True))
@click.argument("name")
def gallery_remove(path, name) -> None:
    """Remove identity NAME and its faces."""
    with open_gallery(path) as gallery:
        try:
            n = gallery.remove(name)
        except FaceprintError as e:
            raise click.ClickException(str(e)) from None
    click.echo(f"removed {name} ({n} faces)")


@gallery_group.command("rename")
@click.argument("path", type=GalleryLocation(exists=True))
@click.argument("old")
@click.argument("new")
def gallery_rename(path, old, new) -> None:
    """Rename identity OLD to NEW."""
    with open_gallery(path) as gallery:
        try:
            gallery.rename(old, new)
        except FaceprintError as e:
            raise click.ClickException(str(e)) from None
    click.echo(f"renamed {old} -> {new}")


@gallery_group.command("export")
@click.argument("path", type=GalleryLocation(exists=True))
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
@FORCE_OPTION
def gallery_export(path, out, force) -> None:
    """Write every face, with embeddings and records, to OUT (.npz)."""
    if out.suffix != ".npz":  # numpy would append it
        out = out.with_name(out.name + ".npz")
    check_outputs([gallery_file(path)], [Writes("OUT", out)], force)
    with open_gallery(path) as gallery:
        written = gallery.export(out)
        n = len(gallery)
    click.echo(f"exported {n} faces -> {written}")


@gallery_group.command("import")
@click.argument("args", nargs=-1, required=True)
@click.option(
    "--gallery",
    "gallery_path",
    type=GalleryLocation(),
    help="The gallery (created if new); without it: PATH SOURCE.",
)
@VECTORS_OPTION
@click.option(
    "--name-from",
    type=click.Choice(["parent-dir"]),
    default="parent-dir",
    show_default=True,
    help="Dataset import: each face's name is its image's folder.",
)
def gallery_import(args, gallery_path, vectors, name_from) -> None:
    """Merge SOURCE into a gallery: an exported .npz, or an embed job's Parquet dataset.

    Give PATH SOURCE or SOURCE --gallery PATH, for example faceprint gallery import people.db
    exported.npz, or faceprint gallery import OUT_DIR --gallery people.db --vectors URI. A
    dataset folder is streamed, never loaded whole.
    """
    from faceprint.gallery.exchange import dataset_model, exported_model, import_face_rows

    if gallery_path is None and len(args) == 2:
        gallery_path, source = GalleryLocation().convert(args[0], None, None), Path(args[1])
    elif gallery_path is not None and len(args) == 1:
        source = Path(args[0])
    else:
        raise click.UsageError("give SOURCE --gallery PATH, or PATH SOURCE")
    if not source.exists():
        raise click.BadParameter(f"{source}: no such file or folder", param_hint="SOURCE")
    check_outputs([source], [Writes("--gallery", gallery_file(gallery_path), kept=True)], False)
    try:
        made_by = dataset_model(source) if source.is_dir() else exported_model(source)
        model, align = made_by.rsplit("/", 1)
    except FaceprintError as e:
        raise click.ClickException(str(e)) from None
    with open_gallery(gallery_path, model, align, vectors=vectors, create=True) as gallery:
        try:
            if source.is_dir():
                n = import_face_rows(gallery, source, name_from)
            else:
                n = gallery.import_(source)
        except FaceprintError as e:
            raise click.ClickException(str(e)) from None
    click.echo(f"imported {n} faces into {gallery.store.location}")


@main.command()
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--out",
    required=True,
    type=click.Path(path_type=Path),
    help="A directory (one folder per person, plus noise/, holding face crops) or a .csv file.",
)
@RECOGNIZER_OPTIONS
@detector_options
@click.option(
    "--eps",
    type=DISTANCE,
    default=None,
    help="Use DBSCAN with this L2 radius between unit embeddings (above 0, at most 2) instead "
    "of HDBSCAN.",
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
@FORCE_OPTION
def cluster(
    directory, out, model, align, device, precision, eps, min_samples, all_faces, force
) -> None:
    """Group the faces of unlabeled photos in DIRECTORY by person (HDBSCAN, or DBSCAN).

    --eps R runs DBSCAN with radius R instead of HDBSCAN. A folder per person gets a crop of
    each face, named after its photo.
    """
    import csv

    from faceprint.alignment import crop_box
    from faceprint.gallery.cluster import cluster_embeddings
    from faceprint.gallery.enroll import subject_faces
    from faceprint.images import image_size, load_image

    paths = input_images([directory])
    csv_out = out.suffix.lower() == ".csv"
    check_outputs(
        [directory], [Writes("--out", out, folder=not csv_out, pictures=not csv_out)], force
    )
    names = output_names(paths)
    recognizer = make_recognizer(model, align, device, precision)
    rows, failed = [], 0
    for path in tqdm(paths, desc="embedding", unit="img"):
        try:
            found = recognizer.embed(path)
        except FaceprintError as e:
            failed += 1
            report_error(e, path)
            continue
        subjects = found if all_faces else subject_faces(found, image_size(path))
        kept = {id(f) for f in subjects}
        rows += [(path, i, f) for i, f in enumerate(found) if id(f) in kept]
    labels = cluster_embeddings(
        np.stack([f.embedding for _, _, f in rows]) if rows else np.zeros((0, 1)),
        eps=eps,
        min_samples=min_samples,
    )
    if csv_out:
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
            crop_box(load_image(path), face.box, 160, 32).save(folder / f"{names[path]}_{i}.png")
    report_ignored(recognizer)
    n = len(set(labels[labels >= 0].tolist())) if len(labels) else 0
    click.echo(f"{len(rows)} faces -> {n} people, {int((labels < 0).sum())} noise -> {out}")
    finish(failed, len(paths), "images")
