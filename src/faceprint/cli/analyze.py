"""``faceprint analyze``: age, gender and emotion of every face."""

from __future__ import annotations

import json
from pathlib import Path

import click
from tqdm import tqdm

from faceprint.cli._common import (
    DEVICE_OPTION,
    detector_options,
    finish,
    input_images,
    main,
    make_recognizer,
    report_error,
    report_ignored,
)
from faceprint.errors import FaceprintError
from faceprint.pipeline import (
    DEFAULT_MODEL,
    detection_record,
)


@main.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON list, one entry per image.")
@detector_options
@DEVICE_OPTION
def analyze(images, as_json, device) -> None:
    """Age, gender, emotion and quality of every face.

    Age, gender and emotion come from the attribute networks of the registry; the quality
    (0..1, higher is more useful for recognition) is the default model's (the quality guide).
    """
    from faceprint.images import load_image

    recognizer = make_recognizer(DEFAULT_MODEL, None, device, "fp32")
    report, failed = [], 0
    paths = input_images(images)
    for path in tqdm(paths, desc="analysing", unit="img", disable=len(paths) < 2):
        try:
            image = load_image(path)
            found = recognizer.analyze(image)
            scored = recognizer.embed_regions([image], [r for r, _ in found])
        except FaceprintError as e:
            failed += 1
            report_error(e, path)
            report.append({"image": str(path), "error": str(e), "faces": []})
            continue
        faces = [
            detection_record(r.box, r.probability, r.landmarks, f.quality) | a.to_dict()
            for (r, a), f in zip(found, scored, strict=True)
        ]
        report.append({"image": str(path), "faces": faces})
        if not as_json:
            tqdm.write(f"{path}: {len(faces)} face(s)")
            for i, f in enumerate(faces):
                tqdm.write(
                    f"  {i}: box={f['box']} quality {f['quality']:.2f}, age {f['age']:.0f}, "
                    f"{f['gender']} "
                    f"({f['gender_probability']:.2f}), {f['emotion']} "
                    f"({f['emotion_probabilities'][f['emotion']]:.2f})"
                )
    report_ignored(recognizer)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    finish(failed, len(paths), "images")
