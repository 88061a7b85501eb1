"""The ``faceprint`` command. Thin: it parses arguments and calls the library."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from faceprint.errors import FaceprintError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="faceprint")
def main() -> None:
    """faceprint: face detection, alignment and recognition for PyTorch."""


@main.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON list, one entry per image.")
@click.option("--annotate", type=click.Path(dir_okay=False, path_type=Path), help="Draw the detections into this PNG/JPEG (name_<image> for several images).")
@click.option("--crops", type=click.Path(file_okay=False, path_type=Path), help="Save each face crop into this directory.")
@click.option("--image-size", default=160, show_default=True, help="Side of the saved crops.")
@click.option("--margin", default=0, show_default=True, help="Crop margin, in crop pixels.")
@click.option("--min-face-size", default=20, show_default=True, help="Smallest face searched for, in pixels.")
@click.option("--device", default=None, help="torch device, e.g. cuda.")
def detect(images, as_json, annotate, crops, image_size, margin, min_face_size, device) -> None:
    """Find faces: boxes, probabilities and 5 landmarks per face."""
    from faceprint.alignment import extract_face
    from faceprint.detection import MTCNN
    from faceprint.drawing import annotate as draw
    from faceprint.images import load_image

    mtcnn = MTCNN(image_size=image_size, margin=margin, min_face_size=min_face_size, keep_all=True, device=device)
    report, failed = [], 0
    for path in images:
        try:
            pil = load_image(path)
            boxes, probs, points = mtcnn.detect(pil, landmarks=True)
        except FaceprintError as e:
            failed += 1
            click.echo(f"error: {e}", err=True)
            report.append({"image": str(path), "error": str(e), "faces": []})
            continue
        faces = [] if boxes is None else [
            {"box": [round(float(v), 2) for v in b], "probability": round(float(p), 6),
             "landmarks": [[round(float(x), 2), round(float(y), 2)] for x, y in pts]}
            for b, p, pts in zip(boxes, probs, points)
        ]
        report.append({"image": str(path), "faces": faces})
        if annotate:
            target = annotate if len(images) == 1 else annotate.with_name(f"{annotate.stem}_{path.stem}{annotate.suffix}")
            target.parent.mkdir(parents=True, exist_ok=True)
            draw(pil, boxes, None if probs is None else [f"{p:.3f}" for p in probs], points).save(target)
        for i, box in enumerate([] if boxes is None or not crops else boxes):
            extract_face(pil, box, image_size, margin, save_path=crops / f"{path.stem}_{i + 1}.png")
        if not as_json:
            click.echo(f"{path}: {len(faces)} face(s)")
            for i, f in enumerate(faces):
                marks = " ".join(f"({x:.0f},{y:.0f})" for x, y in f["landmarks"])
                click.echo(f"  {i}: box={f['box']} p={f['probability']:.4f} landmarks={marks}")
    if as_json:
        click.echo(json.dumps(report, indent=2))
    if failed:
        sys.exit(1)


@main.group()
def models() -> None:
    """List and fetch pretrained weights."""


@models.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def models_list(as_json: bool) -> None:
    """Every registered model: architecture, dimension, LFW accuracy, cached or not."""
    from faceprint.weights.fetch import cache_dir
    from faceprint.weights.registry import list_weights

    rows = []
    for w in list_weights():
        rows.append({
            "name": w.name, "architecture": w.architecture, "dim": w.embedding_size,
            "classes": w.num_classes, "lfw_accuracy": w.lfw_accuracy,
            "cached": (cache_dir() / w.filename).is_file(), "description": w.description,
        })
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    click.echo(f"{'name':<15} {'architecture':<20} {'dim':>4} {'LFW':>7}  cached")
    for r in rows:
        lfw = f"{r['lfw_accuracy']:.4f}" if r["lfw_accuracy"] else "-"
        click.echo(f"{r['name']:<15} {r['architecture']:<20} {r['dim'] or '-':>4} {lfw:>7}  {'yes' if r['cached'] else 'no'}")
    click.echo(f"cache: {cache_dir()}")


@models.command("fetch")
@click.argument("name")
def models_fetch(name: str) -> None:
    """Fetch (and verify, convert, cache) the weights called NAME."""
    from faceprint.weights.fetch import weights_path
    from faceprint.weights.registry import get_weights

    try:
        path = weights_path(get_weights(name))
    except FaceprintError as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"{name}: {path}")


if __name__ == "__main__":
    main()
