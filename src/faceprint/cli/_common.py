"""What every command shares: the command group, its error-to-exit-code rule, shared options
and output helpers."""

from __future__ import annotations

import functools
import math
import sys
from pathlib import Path

import click
from click.core import ParameterSource
from tqdm import tqdm

from faceprint.alignment import ALIGN_METHODS
from faceprint.detection.mtcnn import MTCNN_DEFAULTS
from faceprint.errors import (
    FaceprintError,
    MissingExtraError,
    ModelMismatchError,
    UncalibratedError,
    UnknownModelError,
)
from faceprint.gallery.core import DEFAULT_FAR
from faceprint.gallery.stores import is_database_url
from faceprint.models.onnx_runtime import BACKENDS
from faceprint.pipeline import (
    DEFAULT_DETECTOR,
    DEFAULT_MODEL,
    DEFAULT_PRECISION,
    DEFAULT_VERIFY_FAR,
)
from faceprint.precision import PRECISIONS, forced_precision


def report_error(message: object, source: object | None = None) -> None:
    """One "error:" line on stderr, written above any progress bar; it starts with ``source``
    (the input at fault) where the message does not already."""
    text = str(message)
    if source is not None and not text.startswith(str(source)):
        text = f"{source}: {text}"
    tqdm.write(f"error: {text}", file=sys.stderr)


def report_ignored(recognizer) -> None:
    """Say how many detections recognition passed over (false positives, tiny faces)."""
    if recognizer.ignored:
        tqdm.write(
            f"ignored {recognizer.ignored} detection(s) less likely than p="
            f"{recognizer.min_probability:g} or smaller than {recognizer.min_face_size:g} px",
            file=sys.stderr,
        )


def finish(failed: int, total: int, noun: str = "inputs") -> None:
    """Exit 1 with a summary line when any input failed (0 otherwise: every input handled)."""
    if failed:
        click.echo(f"{failed} of {total} {noun} failed", err=True)
        sys.exit(1)


class Commands(click.Group):
    """faceprint's commands: an optional dependency that is not installed is a usage error
    (exit 2) that names the extra to install, and any other faceprint error that a command
    does not handle itself is one line and exit 1, never a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            forced_precision()  # a bad $FACEPRINT_PRECISION is a usage error, before any work
        except ValueError as e:
            raise click.UsageError(str(e)) from None
        try:
            return super().invoke(ctx)
        except (MissingExtraError, UncalibratedError) as e:
            raise click.UsageError(str(e)) from None
        except FaceprintError as e:
            click.echo(f"Error: {e}", err=True)
            sys.exit(1)


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="faceprint")
def main() -> None:
    """faceprint: face detection, alignment and recognition for PyTorch."""


class Range(click.FloatRange):
    """A click.FloatRange that refuses nan, which every comparison lets through."""

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if math.isnan(number):
            self.fail(
                f"{value!r} is not a number in the range {self._describe_range()}.", param, ctx
            )
        return number


#: An L2 distance between unit embeddings: (0, 2].
DISTANCE = Range(0, 2, min_open=True)


def far_option(default: float, help: str):
    """``--far``: a rate in (0, 1) from which a threshold follows."""
    return click.option(
        "--far",
        type=Range(0, 1, min_open=True, max_open=True),
        default=default,
        show_default=True,
        help=help,
    )


def mtcnn_option(flag: str, help: str):
    """An option whose default is MTCNN's own for the argument of that name."""
    default = MTCNN_DEFAULTS[flag.removeprefix("--").replace("-", "_")]
    return click.option(flag, default=default, show_default=True, help=help)


def context_option(flag: str, **settings):
    """An option kept in the click context (``ctx.meta[flag]``) instead of passed to the
    command: make_recognizer() and detect read it there with :func:`from_context`, so that every
    command that embeds or detects takes it without one more parameter each."""

    def remember(ctx: click.Context, param: click.Parameter, value):
        ctx.meta[flag] = value
        return value

    return click.option(flag, expose_value=False, callback=remember, **settings)


def from_context(flag: str, default=None):
    return click.get_current_context().meta.get(flag, default)


BACKEND_OPTION = context_option(
    "--backend",
    type=click.Choice(BACKENDS),
    default="torch",
    show_default=True,
    help="Run the networks in torch, or as ONNX exports in ONNX Runtime (pip install "
    "'faceprint[onnx]'; exported once and cached).",
)
CALIBRATION_OPTION = context_option(
    "--calibration",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="--precision int8: a folder of face photos that sets the quantization ranges; the int8 "
    "model is built once per folder and cached (eval lfw uses LFW's View 1).",
)


class DetectorName(click.ParamType):
    """A detector of the registry, or several joined with ``+`` (a fused detector), checked
    when the command line is parsed: a name that names nothing is a usage error listing the
    known ones."""

    name = "detector"

    def convert(self, value, param, ctx):
        from faceprint.detection.registry import FUSED_SEPARATOR, detector_entry

        names = value.split(FUSED_SEPARATOR)
        try:
            for name in names:
                detector_entry(name)
        except UnknownModelError as e:
            self.fail(str(e), param, ctx)
        if len(set(names)) != len(names):
            self.fail(f"{value!r} names a detector twice", param, ctx)
        return value


def _whole(ctx: click.Context, param: click.Parameter, value: float | None):
    """Keep ``--min-face-size 20`` an int, as the detectors' own defaults are, so that caches
    keyed by a detector's settings do not tell 20 from 20.0."""
    if value is not None and float(value).is_integer():
        value = int(value)
    ctx.meta[param.opts[0]] = value
    return value


def _detector_help() -> str:
    from faceprint.detection import list_detectors

    return (
        f"Face detector: {', '.join(list_detectors())}, or two or more joined with '+' "
        "(a fused detector, e.g. mtcnn+centerface)."
    )


DETECTOR_OPTION = context_option(
    "--detector",
    type=DetectorName(),
    default=DEFAULT_DETECTOR,
    show_default=True,
    metavar="NAME",
    help=_detector_help(),
)
MIN_FACE_SIZE_OPTION = click.option(
    "--min-face-size",
    type=Range(1, None),
    default=None,
    metavar="N",
    expose_value=False,
    callback=_whole,
    help="Smallest face searched for, in pixels (the box's shorter side), whichever detector "
    "runs; smaller faces are not returned (default: the detector's own: 20 for mtcnn, every "
    "size for centerface). Commands that recognise faces also pass over, and count, faces "
    "smaller than the size tuned for their model, whatever this says: a larger N raises that "
    "bar, a smaller one does not lower it.",
)


def detector_options(command):
    """--detector NAME and --min-face-size N: the options of every command that detects,
    kept in the click context, which :func:`command_detector` reads."""
    return DETECTOR_OPTION(MIN_FACE_SIZE_OPTION(command))


def detector_choice() -> tuple[str, dict]:
    """The command's --detector name and the constructor options its --min-face-size gives."""
    name = from_context("--detector") or DEFAULT_DETECTOR
    size = from_context("--min-face-size")
    return name, ({} if size is None else {"min_face_size": size})


def command_detector(device: str | None = None):
    """The detector of the command's --detector and --min-face-size, on ``device`` and the
    command's --backend (a usage error where they do not go together)."""
    from faceprint.pipeline import make_detector

    name, options = detector_choice()
    try:
        return make_detector(name, device, from_context("--backend", "torch"), **options)
    except (UnknownModelError, ValueError) as e:
        raise click.UsageError(str(e)) from None
    except FaceprintError as e:
        raise click.ClickException(str(e)) from None


PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


def picture_file(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """Refuse a picture path whose format can't be told from its suffix before any work."""
    if value is not None and value.suffix.lower() not in PICTURE_SUFFIXES:
        raise click.BadParameter(
            f"{str(value)!r} needs a picture suffix: one of {', '.join(PICTURE_SUFFIXES)}"
        )
    return value


def model_option(default: str | None = DEFAULT_MODEL, help: str | None = None):
    """``--model``: a registry name, a model file or an ensemble ``A+B``."""
    return click.option(
        "--model",
        default=default,
        show_default=default is not None,
        help=help or "Registry name of the embedding weights, or a faceprint model file.",
    )


MODEL_OPTION = model_option()
ALIGN_OPTION = click.option(
    "--align",
    type=click.Choice(list(ALIGN_METHODS)),
    default=None,
    help="How faces are cut: detection box with margin, 5-point similarity warp, dlib's "
    "5-point chip, or a fixed centre crop (default: the model's own: box; dlib for "
    "dlib-resnet-v1; each member's own for an ensemble).",
)


def check_device(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Refuse, before any model is loaded, a ``--device`` this machine does not have: a name
    torch does not know (``banana``), a kind of device it lacks (``cuda`` without CUDA) or an
    index past its last one (``cuda:7`` on a one-GPU machine)."""
    if value is None:
        return None
    import torch

    try:
        device = torch.device(value)
    except (RuntimeError, ValueError):
        raise click.BadParameter(
            f"{value!r} is not a torch device: write cpu, cuda, cuda:N or mps"
        ) from None
    if device.type == "cpu":
        return value
    backend = torch.backends.mps if device.type == "mps" else getattr(torch, device.type, None)
    if backend is None or not hasattr(backend, "is_available"):
        raise click.BadParameter(f"{value!r}: faceprint runs on cpu, cuda, mps or xpu devices")
    if not backend.is_available():
        raise click.BadParameter(
            f"{value!r}: this machine has no {device.type} device (torch {torch.__version__}); "
            "use --device cpu"
        )
    count = backend.device_count() if hasattr(backend, "device_count") else 1
    if device.index is not None and device.index >= count:
        raise click.BadParameter(
            f"{value!r}: this machine has {count} {device.type} device(s), "
            f"{device.type}:0 to {device.type}:{count - 1}"
        )
    return value


DEVICE_OPTION = click.option(
    "--device",
    default=None,
    callback=check_device,
    help="torch device, e.g. cpu, cuda or cuda:1.",
)


PRECISION_OPTION = click.option(
    "--precision",
    type=click.Choice(PRECISIONS),
    default=DEFAULT_PRECISION,
    show_default=True,
    help="Precision of the network: auto takes $FACEPRINT_PRECISION (bf16 or fp32) where set, "
    "else bf16 where the CPU (AMX, AVX-512 BF16) or GPU computes it natively, else fp32. int8: "
    "quantized in ONNX Runtime, built once from --calibration photos.",
)


def recognizer_options(model_default: str | None = DEFAULT_MODEL, model_help: str | None = None):
    """--model, --align, --device, --precision and --backend (with --calibration): the options
    of every command that embeds. ``model_default`` ``None``: the model is a gallery's."""

    def decorate(command):
        for option in (
            CALIBRATION_OPTION,
            BACKEND_OPTION,
            PRECISION_OPTION,
            DEVICE_OPTION,
            ALIGN_OPTION,
            model_option(model_default, model_help),
        ):
            command = option(command)
        return command

    return decorate


RECOGNIZER_OPTIONS = recognizer_options()
GALLERY_RECOGNIZER_OPTIONS = recognizer_options(
    None,
    f"Embedding model: a new gallery's (default {DEFAULT_MODEL}); an existing gallery's own "
    "model where not given, which a given one must match.",
)


def given(name: str) -> bool:
    """Whether the user gave parameter ``name`` (on the command line or through the
    environment), rather than its default."""
    source = click.get_current_context().get_parameter_source(name)
    return source in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)


def far_or_threshold(far_default: float, far_help: str, threshold_help: str):
    """``--far`` and ``--threshold``, one or the other: a threshold is set by a false-accept
    rate or given as an L2 distance between unit embeddings, in (0, 2]."""

    def decorate(command):
        @functools.wraps(command)
        def checked(*args, **kwargs):
            if kwargs.get("threshold") is not None and given("far"):
                raise click.UsageError(
                    "--far and --threshold are mutually exclusive: --far sets the threshold, "
                    "--threshold gives it"
                )
            return command(*args, **kwargs)

        checked = click.option(
            "--threshold",
            type=DISTANCE,
            default=None,
            help=threshold_help + " An L2 distance between unit embeddings: above 0, at most 2.",
        )(checked)
        return far_option(far_default, far_help)(checked)

    return decorate


def make_recognizer(
    model: str,
    align: str | None,
    device: str | None,
    precision: str = DEFAULT_PRECISION,
    far: float = DEFAULT_VERIFY_FAR,
    threshold: float | None = None,
):
    from faceprint.pipeline import FaceRecognizer

    detector = command_detector(device)
    try:
        return FaceRecognizer(
            model=model,
            align=align,
            device=device,
            precision=precision,
            far=far,
            threshold=threshold,
            detector=detector,
            backend=from_context("--backend", "torch"),
            calibration=from_context("--calibration"),
        )
    except (UnknownModelError, UncalibratedError) as e:
        # a --model that names nothing, or a --detector/--align pair it is not calibrated for
        raise click.UsageError(str(e)) from None
    except FaceprintError as e:
        raise click.ClickException(str(e)) from None
    except ValueError as e:  # options that do not go together, e.g. an uncalibrated --align
        raise click.UsageError(str(e)) from None


class GalleryLocation(click.ParamType):
    """A gallery file (a :class:`~pathlib.Path`), or a ``postgresql://`` URL kept as given."""

    name = "gallery"

    def __init__(self, exists: bool = False) -> None:
        self.file = click.Path(exists=exists, dir_okay=False, path_type=Path)

    def convert(self, value, param, ctx):
        if is_database_url(value):
            return value
        return self.file.convert(value, param, ctx)


def gallery_file(location: Path | str | None) -> Path | None:
    """The file of a file gallery (for the checks on inputs and outputs), None for a database
    gallery, which has none on this machine."""
    return None if location is None or is_database_url(location) else Path(location)


def open_gallery(
    path: Path | str,
    model: str | None = None,
    align: str | None = None,
    vectors: str | None = None,
    create: bool = False,
    threshold: float | None = None,
    far: float = DEFAULT_FAR,
    device: str | None = None,
    open_set: str = "distance",
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
            open_set=open_set,
        )
    except (ModelMismatchError, UncalibratedError) as e:  # not the gallery's, or uncalibrated
        raise click.UsageError(str(e)) from None
    except FaceprintError as e:
        raise click.ClickException(str(e)) from None


def gallery_recognizer(
    gallery, device: str | None, precision: str = DEFAULT_PRECISION, align: str | None = None
):
    """Give ``gallery`` a recognizer of its own model and alignment, built with the command's
    --device, --precision and --backend; returns it (closing the gallery where it fails). An
    ``align`` other than the gallery's is a usage error."""
    try:
        if align is not None and align != gallery.align:
            raise click.UsageError(
                f"{gallery.path} holds {gallery.model} embeddings; --align {align} is not its "
                "alignment: leave --align out or use a new gallery"
            )
        gallery.recognizer = make_recognizer(gallery.model_source, gallery.align, device, precision)
    except BaseException:
        gallery.close()
        raise
    return gallery.recognizer


def input_images(inputs, required: bool = True) -> list[Path]:
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


GALLERY_OPTION = click.option(
    "--gallery",
    "gallery_path",
    required=True,
    type=GalleryLocation(),
    help="Gallery file, or a PostgreSQL database (postgresql://user:password@host/db).",
)
OPEN_SET_OPTION = click.option(
    "--open-set",
    # faceprint.gallery.core.OPEN_SET_DECISIONS, spelled out: the gallery is imported on use
    type=click.Choice(["distance", "margin"]),
    default="distance",
    show_default=True,
    help="How a face is found to be nobody enrolled: by its distance to the nearest person, or "
    "by that distance minus half the second nearest's (margin: more faces named at the same "
    "false-alarm rate in large galleries; see the gallery guide).",
)
VECTORS_OPTION = click.option(
    "--vectors",
    default=None,
    help="Milvus URI for the vectors (server URL or Milvus Lite .db file); "
    "default: embedded FAISS.",
)

CROP_ALIGN_OPTION = click.option(
    "--align",
    type=click.Choice(["box", "similarity"]),
    default="box",
    show_default=True,
    help="How faces are cut: detection box with margin, or 5-point similarity warp "
    "(train: ignored with --cropped).",
)
