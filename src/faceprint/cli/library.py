"""``faceprint library ...``: people in a photo library (scan, people, name, merge, split,
move, forget, audit)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from faceprint.cli._common import (
    GalleryLocation,
    finish,
    from_context,
    main,
    open_gallery,
    recognizer_options,
    report_error,
    report_ignored,
)
from faceprint.errors import ModelMismatchError, UnknownModelError
from faceprint.pipeline import DEFAULT_MODEL

LIBRARY_OPTION = click.option(
    "--library",
    "library_path",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="The library: a folder that holds its store (made by the first scan).",
)


def _open(path: Path, create: bool = False, **options):
    from faceprint.library import Library

    if not create and not (path / "library.db").exists():
        raise click.BadParameter(
            f"{path}: no library here; make one with faceprint library scan DIR --library {path}",
            param_hint="--library",
        )
    try:
        return Library(path, create=create, **options)
    except (ModelMismatchError, UnknownModelError) as e:
        raise click.UsageError(str(e)) from None


def _person_json(person, embeddings: bool, library) -> dict:
    faces = [
        {
            "id": f.id,
            "image": f.image,
            "box": f.box,
            "landmarks": f.landmarks,
            "probability": f.probability,
        }
        for f in person.faces
    ]
    if embeddings and faces:
        vectors = library.embeddings([f["id"] for f in faces])
        for face, vector in zip(faces, vectors, strict=True):
            face["embedding"] = vector.tolist()
    return {"id": person.id, "name": person.name, "faces": faces}


@main.group(name="library")
def library_group() -> None:
    """People in a photo library: scan, name, merge, split, move, forget.

    Scan a folder into a library, then arrange the people found in it."""


@library_group.command("scan")
@click.argument("directory", type=click.Path(exists=True, file_okay=False, path_type=Path))
@LIBRARY_OPTION
@recognizer_options(
    None,
    f"Embedding model: a new library's (default {DEFAULT_MODEL}); an existing library's own "
    "where not given, which a given one must match.",
)
@click.option(
    "--gallery",
    "gallery_path",
    type=GalleryLocation(exists=True),
    help="A gallery whose people (from enroll) attract the new faces by its open-set search.",
)
@click.option("--full", is_flag=True, help="Re-cluster every unnamed face, not only new ones.")
@click.option(
    "--batch-size",
    type=click.IntRange(min=1),
    default=16,
    show_default=True,
    help="Photos embedded together (each is stored on its own).",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
def scan(
    directory,
    library_path,
    model,
    align,
    device,
    precision,
    gallery_path,
    full,
    batch_size,
    as_json,
) -> None:
    """Add DIRECTORY's new photos to the library and place their faces.

    Only photos whose content (sha256) the library has not seen are embedded: a moved or
    renamed photo is found again, not re-embedded, and photos deleted from DIRECTORY leave the
    library. Each photo is stored in one transaction, so an interrupted scan loses nothing:
    run it again to finish. New faces go to named people (open-set rule), join the nearest
    cluster, or form new clusters (HDBSCAN, then merged and completed); placed faces stay.
    """
    library = _open(
        library_path,
        create=True,
        model=model,
        align=align,
        device=device,
        precision=precision,
        backend=from_context("--backend"),
        calibration=from_context("--calibration"),
    )
    gallery = None
    with library:
        if gallery_path is not None:
            gallery = open_gallery(gallery_path)
        try:
            report, placed = library.scan(
                directory, progress=not as_json, gallery=gallery, full=full, batch_size=batch_size
            )
        finally:
            if gallery is not None:
                gallery.close()
        for why in report.failed.values():
            report_error(why)
        if report.new:
            report_ignored(library.recognizer)
        counts = library.counts()
    summary = {
        "new": report.new,
        "faces": report.faces,
        "known": report.known,
        "moved": report.moved,
        "removed": report.removed,
        "failed": len(report.failed),
        "named": placed.named,
        "joined": placed.joined,
        "new_clusters": placed.new_clusters,
        "library": counts,
    }
    if as_json:
        click.echo(json.dumps(summary))
    else:
        click.echo(
            f"{report.new} new photos ({report.faces} faces), {report.known} known "
            f"({report.moved} moved), {report.removed} removed; {counts['people']} people, "
            f"{counts['clusters']} clusters, {counts['noise']} faces in none -> {library_path}"
        )
    finish(len(report.failed), report.new + report.known + len(report.failed), "photos")


@library_group.command("people")
@LIBRARY_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print one JSON list of people.")
@click.option("--embeddings", is_flag=True, help="With --json: each face's embedding too.")
@click.option("--named", is_flag=True, help="Only named people, no unnamed clusters.")
def people(library_path, as_json, embeddings, named) -> None:
    """People and unnamed clusters with their faces: id, name (none for a cluster), count."""
    if embeddings and not as_json:
        raise click.UsageError("--embeddings goes with --json")
    with _open(library_path) as library:
        listed = library.people(clusters=not named)
        if as_json:
            click.echo(json.dumps([_person_json(p, embeddings, library) for p in listed]))
            return
        counts = library.counts()
        click.echo(
            f"{library_path}: {counts['photos']} photos, {counts['faces']} faces, "
            f"{counts['people']} people, {counts['clusters']} clusters, {counts['noise']} in none"
        )
        for p in listed:
            click.echo(f"  {p.id}: {p.name or '(unnamed)'}: {len(p.faces)} face(s)")


@library_group.command("name")
@click.argument("cluster")
@click.argument("name")
@LIBRARY_OPTION
def name(cluster, name, library_path) -> None:
    """Name CLUSTER (an id), or rename a person.

    A NAME someone has already merges the cluster into that person."""
    with _open(library_path) as library:
        person = library.name(cluster, name)
    click.echo(f"{cluster} -> {person.name} (id {person.id}, {len(person.faces)} faces)")


@library_group.command("merge")
@click.argument("source")
@click.argument("target")
@LIBRARY_OPTION
def merge(source, target, library_path) -> None:
    """Move every face of SOURCE to TARGET (ids or names); SOURCE goes."""
    with _open(library_path) as library:
        person = library.merge(source, target)
    label = person.name or f"cluster {person.id}"
    click.echo(f"merged {source} into {label}: {len(person.faces)} faces")


@library_group.command("split")
@click.argument("person")
@LIBRARY_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print the groups as JSON.")
def split(person, library_path, as_json) -> None:
    """Re-cluster PERSON's faces and print the groups.

    The largest group stays; each other group becomes a new cluster."""
    with _open(library_path) as library:
        groups = library.split(person)
    if as_json:
        click.echo(json.dumps({"groups": groups}))
        return
    click.echo(f"{person}: {len(groups)} group(s)")
    for i, group in enumerate(groups):
        where = "stays" if i == 0 else "new cluster"
        click.echo(f"  {where}: faces {', '.join(str(f) for f in group)}")


@library_group.command("move")
@click.argument("face", type=click.IntRange(min=0))
@click.argument("person")
@LIBRARY_OPTION
def move(face, person, library_path) -> None:
    """Give FACE (its id) to PERSON (an id or name; a new name makes a new person)."""
    with _open(library_path) as library:
        target = library.move(face, person)
    click.echo(f"face {face} -> {target.name or f'cluster {target.id}'}")


@library_group.command("forget")
@click.argument("person")
@LIBRARY_OPTION
def forget(person, library_path) -> None:
    """Erase PERSON (id or name) and their faces for good.

    Faces, embeddings and thumbnails are deleted and the store compacted, so none of their
    bytes remains in the library's files."""
    with _open(library_path) as library:
        n = library.forget(person)
    click.echo(f"forgot {person}: {n} faces erased")


@library_group.command("audit")
@LIBRARY_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print one JSON list of entries.")
def audit(library_path, as_json) -> None:
    """The audit log: every change, who made it and when."""
    import datetime

    with _open(library_path) as library:
        entries = library.audit_log()
    if as_json:
        click.echo(json.dumps([e.__dict__ for e in entries]))
        return
    for e in entries:
        when = datetime.datetime.fromtimestamp(e.at, datetime.UTC).isoformat(timespec="seconds")
        click.echo(f"{when} {e.who} {e.what} {json.dumps(e.details, sort_keys=True)}")
