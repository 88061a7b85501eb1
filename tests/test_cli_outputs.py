"""Nothing of the user's is overwritten, and the first hour's rough edges: every command that
writes refuses an output that is one of its inputs, or lies inside a folder of pictures it
reads, and an output that exists unless --force; a --device that is not there, a threshold out
of range or beside --far, and a missing input are usage errors (exit 2) before any work."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import click
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from faceprint.cli import main
from faceprint.cli._common import check_device


def run(*args) -> click.testing.Result:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


def snapshot(folder: Path) -> dict[str, str]:
    """md5 of every file under ``folder``, by relative path: what a refused command must leave."""
    return {
        str(p.relative_to(folder)): hashlib.md5(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def work(tmp_path, lfw) -> Path:
    """A folder of the user's: two photos, a folder of photos (one per person, as training
    wants), an empty gallery, a run folder with a checkpoint and files every output could name."""
    photos = tmp_path / "photos"
    for name in ("Colin_Powell", "Tony_Blair"):
        (photos / name).mkdir(parents=True)
        for i in (1, 2):
            source = lfw / "images" / name / f"{name}_{i:04d}.jpg"
            shutil.copy(source, photos / name / f"{i}.jpg")
    shutil.copy(photos / "Colin_Powell" / "1.jpg", tmp_path / "a.jpg")
    shutil.copy(photos / "Tony_Blair" / "1.jpg", tmp_path / "b.jpg")
    from faceprint.gallery import Gallery

    Gallery(tmp_path / "people.gallery").close()
    for name in ("existing.png", "existing.npz", "existing.csv", "existing.json"):
        (tmp_path / name).write_bytes(b"the user's own " + name.encode())
    (tmp_path / "video.mp4").write_bytes(b"not decoded: the check comes first")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "notes.txt").write_text("the user's own notes")
    (tmp_path / "crops").mkdir()
    (tmp_path / "crops" / "a_1.png").write_bytes(b"an earlier crop of a.jpg")
    (tmp_path / "faces").mkdir()
    (tmp_path / "faces" / "track_1.png").write_bytes(b"an earlier best face")
    (tmp_path / "ann").mkdir()
    (tmp_path / "ann" / "1.png").write_bytes(b"an earlier annotation of 1.jpg")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "checkpoint.pt").write_bytes(b"an earlier run")
    (tmp_path / "onnx").mkdir()
    (tmp_path / "onnx" / "ms-celeb-1m.onnx").write_bytes(b"an earlier export")
    (tmp_path / "lfw").mkdir()
    (tmp_path / "lfw" / "pairs.txt").write_text("1\n")
    return tmp_path


# (command line, the path the refusal must name); {w} is the work folder.
ITS_OWN_INPUT = [
    (["detect", "{w}/a.jpg", "--annotate", "{w}/a.jpg"], "{w}/a.jpg"),
    (["detect", "{w}/a.png", "{w}/b.jpg", "--annotate", "{w}"], "{w}/a.png"),
    (["detect", "{w}/a.jpg", "{w}/b.jpg", "--annotate", "{w}/b.jpg"], "{w}/b.jpg"),
    (["detect", "{w}/photos", "--crops", "{w}/photos/crops"], "{w}/photos/crops"),
    (["verify", "{w}/a.jpg", "{w}/b.jpg", "--annotate", "{w}/b.jpg"], "{w}/b.jpg"),
    (
        ["identify", "--gallery", "{w}/people.gallery", "{w}/a.jpg", "--annotate", "{w}/a.jpg"],
        "{w}/a.jpg",
    ),
    (
        [
            "identify",
            "--gallery",
            "{w}/people.gallery",
            "{w}/photos",
            "--annotate",
            "{w}/photos/named",
        ],
        "{w}/photos/named",
    ),
    (["enroll", "--gallery", "{w}/a.jpg", "Colin", "{w}/a.jpg"], "{w}/a.jpg"),
    (["embed", "{w}/a.jpg", "--out", "{w}/a.jpg"], "{w}/a.jpg"),
    (["cluster", "{w}/photos", "--out", "{w}/photos"], "{w}/photos"),
    (["cluster", "{w}/photos", "--out", "{w}/photos/sorted"], "{w}/photos/sorted"),
    (["crop", "{w}/photos", "{w}/photos/crops"], "{w}/photos/crops"),
    (["train", "{w}/photos", "--out", "{w}/photos/run"], "{w}/photos/run"),
    (["similarity", "{w}/photos", "{w}/a.jpg", "--out", "{w}/photos"], "{w}/photos"),
    (
        ["eval", "lfw", "--data", "{w}/lfw", "--pairs", "{w}/a.png", "--plot", "{w}/a.png"],
        "{w}/a.png",
    ),
    (["gallery", "export", "{w}/people.npz", "{w}/people.npz"], "{w}/people.npz"),
    (["gallery", "import", "{w}/people.gallery", "{w}/people.gallery"], "{w}/people.gallery"),
    (["video", "{w}/video.mp4", "--out", "{w}/video.mp4"], "{w}/video.mp4"),
    (["video", "{w}/video.mp4", "--json", "{w}/video.mp4"], "{w}/video.mp4"),
    (
        [
            "video",
            "{w}/video.mp4",
            "--gallery",
            "{w}/people.gallery",
            "--json",
            "{w}/people.gallery",
        ],
        "{w}/people.gallery",
    ),
    (["export", "{w}/model.pt", "--format", "torchscript", "--out", "{w}"], "{w}/model.pt"),
]

AN_EXISTING_FILE = [
    (["detect", "{w}/a.jpg", "--annotate", "{w}/existing.png"], "{w}/existing.png"),
    (["detect", "{w}/photos/Colin_Powell", "--annotate", "{w}/ann"], "{w}/ann/1.png"),
    (["detect", "{w}/a.jpg", "--crops", "{w}/crops"], "{w}/crops/a_1.png"),
    (["verify", "{w}/a.jpg", "{w}/b.jpg", "--annotate", "{w}/existing.png"], "{w}/existing.png"),
    (
        [
            "identify",
            "--gallery",
            "{w}/people.gallery",
            "{w}/a.jpg",
            "--annotate",
            "{w}/existing.png",
        ],
        "{w}/existing.png",
    ),
    (["embed", "{w}/a.jpg", "--out", "{w}/existing.npz"], "{w}/existing.npz"),
    (["cluster", "{w}/photos", "--out", "{w}/existing.csv"], "{w}/existing.csv"),
    (["cluster", "{w}/photos", "--out", "{w}/full"], "{w}/full"),
    (["similarity", "{w}/photos", "{w}/a.jpg", "--out", "{w}/full"], "{w}/full"),
    (["eval", "lfw", "--data", "{w}/lfw", "--plot", "{w}/existing.png"], "{w}/existing.png"),
    (["gallery", "export", "{w}/people.gallery", "{w}/existing.npz"], "{w}/existing.npz"),
    (["gallery", "export", "{w}/people.gallery", "{w}/existing"], "{w}/existing.npz"),
    (["video", "{w}/video.mp4", "--out", "{w}/existing.mp4"], "{w}/existing.mp4"),
    (["video", "{w}/video.mp4", "--json", "{w}/existing.json"], "{w}/existing.json"),
    (["video", "{w}/video.mp4", "--faces", "{w}/faces"], "{w}/faces/track_1.png"),
    (["train", "{w}/photos", "--out", "{w}/run"], "{w}/run"),
    (["export", "ms-celeb-1m", "--out", "{w}/onnx"], "{w}/onnx/ms-celeb-1m.onnx"),
    (["demo", "--out", "{w}/existing.png"], "{w}/existing.png"),
    # Several photos make --annotate a folder: an existing file of that name is not one.
    (["detect", "{w}/a.jpg", "{w}/b.jpg", "--annotate", "{w}/existing.png"], "{w}/existing.png"),
]


def _refused(work: Path, command: list[str], named: str, force_helps: bool) -> None:
    (work / "existing.mp4").write_bytes(b"the user's own video")
    (work / "model.pt").write_bytes(b"the user's own model file")
    (work / "a.png").write_bytes(b"a picture the user named like a pairs file")
    shutil.copy(work / "people.gallery", work / "people.npz")
    before = snapshot(work)
    args = [a.format(w=work) for a in command]
    result = run(*args)
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert named.format(w=work) in message, message
    assert ("--force" in message) == force_helps, message
    assert "Traceback" not in result.output
    assert snapshot(work) == before, "a refused command changed or added files"


@pytest.mark.parametrize(
    ("command", "named"), ITS_OWN_INPUT, ids=[" ".join(c) for c, _ in ITS_OWN_INPUT]
)
def test_an_output_is_never_one_of_the_inputs_even_with_force(work, command, named):
    _refused(
        work,
        [*command, "--force"] if "--force" in _options(command) else command,
        named,
        force_helps=False,
    )


@pytest.mark.parametrize(
    ("command", "named"), AN_EXISTING_FILE, ids=[" ".join(c) for c, _ in AN_EXISTING_FILE]
)
def test_an_existing_output_is_refused_without_force(work, command, named):
    folder_is_a_file = command[:3] == ["detect", "{w}/a.jpg", "{w}/b.jpg"]
    _refused(work, command, named, force_helps=command[0] != "train" and not folder_is_a_file)


def _options(command: list[str]) -> set[str]:
    group = main
    for word in command:
        if not isinstance(group, click.Group):
            break
        group = group.commands.get(word, group)
    return {opt for p in group.params for opt in p.opts}


def _writers() -> set[str]:
    """Every command with an option or argument that names something it writes."""
    names = {"--annotate", "--out", "--crops", "--faces", "--plot", "--json", "out", "out_dir"}
    found = set()

    def walk(command, path):
        for p in command.params:
            if (set(p.opts) & names or p.name in names) and not getattr(p, "is_flag", False):
                found.add(path)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, f"{path} {name}".strip())

    walk(main, "")
    return found


def test_every_command_that_writes_is_checked():
    tested = {
        " ".join(c[: 2 if c[0] in ("gallery", "eval") else 1])
        for c, _ in ITS_OWN_INPUT + AN_EXISTING_FILE
    }
    assert _writers() - tested - {"keys create"} == set()


@pytest.mark.slow
def test_force_replaces_an_existing_output_and_same_named_photos_keep_their_own(work):
    portraits = [work / "photos" / name / "1.jpg" for name in ("Colin_Powell", "Tony_Blair")]
    before = (work / "existing.png").read_bytes()
    assert (
        run("detect", portraits[0], "--annotate", work / "existing.png", "--force").exit_code == 0
    )
    assert (work / "existing.png").read_bytes() != before
    assert Image.open(work / "existing.png").size == Image.open(portraits[0]).size
    result = run("detect", *portraits, "--annotate", work / "drawn", "--crops", work / "cut")
    assert result.exit_code == 0, result.output
    names = [f"{p.parent.name}_1" for p in portraits]
    assert sorted(p.name for p in (work / "drawn").iterdir()) == [f"{n}.png" for n in names]
    crops = [p.name for p in (work / "cut").iterdir()]
    assert {c.rsplit("_", 1)[0] for c in crops} == set(names), crops


def test_a_resumable_output_is_kept_not_refused(work, lfw):
    # crop's OUT_DIR keeps what is there (and resumes); train resumes with --resume only.
    out = work / "aligned"
    (out / "Colin_Powell").mkdir(parents=True)
    first = run("crop", work / "photos", out)
    assert first.exit_code == 0, first.output
    again = run("crop", work / "photos", out)
    assert again.exit_code == 0 and "4 already there" in again.output


# --- --device -------------------------------------------------------------------------------


def _commands_with(option: str) -> list[list[str]]:
    found = []

    def walk(command, path):
        if any(option in p.opts for p in command.params):
            found.append(path)
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, [*path, name])

    walk(main, [])
    return found


ABSENT_DEVICES = ["banana", "cuda:99", "meta"] + ([] if torch.cuda.is_available() else ["cuda"])


@pytest.mark.parametrize("device", ABSENT_DEVICES)
def test_a_device_that_is_not_there_is_a_usage_error_in_every_command(device):
    commands = _commands_with("--device")
    assert len(commands) >= 14, commands
    for path in commands:
        result = run(*path, "--device", device)
        message = " ".join(result.output.split())
        assert result.exit_code == 2, (path, result.output)
        assert f"Invalid value for '--device': '{device}'" in message, (path, message)
        assert "Traceback" not in result.output


def test_every_device_option_is_the_checked_one():
    def walk(command):
        for p in command.params:
            if "--device" in p.opts:
                yield command.name, p.callback
        for sub in getattr(command, "commands", {}).values():
            yield from walk(sub)

    assert {name: cb for name, cb in walk(main) if cb is not check_device} == {}


def test_check_device_takes_the_cpu_and_refuses_what_is_missing():
    ctx = click.Context(main)
    assert check_device(ctx, None, "cpu") == "cpu"
    assert check_device(ctx, None, None) is None
    with pytest.raises(click.BadParameter, match="not a torch device"):
        check_device(ctx, None, "banana")
    count = torch.cuda.device_count()
    with pytest.raises(click.BadParameter, match="no cuda device|cuda device"):
        check_device(ctx, None, f"cuda:{count}")


# --- thresholds -------------------------------------------------------------------------------

THRESHOLD_COMMANDS = {
    "verify": ["verify", "{w}/a.jpg", "{w}/b.jpg"],
    "identify": ["identify", "--gallery", "{w}/people.gallery", "{w}/a.jpg"],
}


def test_far_and_threshold_are_mutually_exclusive_wherever_both_exist(work):
    both = {p[-1] for p in _commands_with("--far") if p in _commands_with("--threshold")}
    assert both == set(THRESHOLD_COMMANDS)
    for command in THRESHOLD_COMMANDS.values():
        args = [a.format(w=work) for a in command]
        result = run(*args, "--far", "0.01", "--threshold", "1.0")
        assert result.exit_code == 2 and "mutually exclusive" in result.output, result.output
        result = run(*args, "--threshold", "1.0", "--far", "0.01")  # either order
        assert result.exit_code == 2 and "mutually exclusive" in result.output, result.output


@pytest.mark.parametrize("value", ["-1", "0", "2.5", "nan", "inf"])
def test_a_distance_threshold_is_in_0_to_2(work, value):
    for command in [*THRESHOLD_COMMANDS.values(), ["cluster", "{w}/photos", "--out", "{w}/c"]]:
        args = [a.format(w=work) for a in command]
        flag = "--eps" if command[0] == "cluster" else "--threshold"
        result = run(*args, flag, value)
        assert result.exit_code == 2, result.output
        assert f"Invalid value for '{flag}'" in result.output


# --- missing inputs -----------------------------------------------------------------------------

MISSING_INPUT = [
    ["detect", "{w}/a.jpg", "{m}"],
    ["analyze", "{m}"],
    ["verify", "{w}/a.jpg", "{m}"],
    ["verify", "{m}", "{w}/a.jpg"],
    ["embed", "{m}", "--out", "{w}/e.npz"],
    ["enroll", "--gallery", "{w}/new.gallery", "Colin", "{w}/a.jpg", "{m}"],
    ["enroll", "--gallery", "{w}/new.gallery", "{m}"],
    ["identify", "--gallery", "{w}/people.gallery", "{m}"],
    ["identify", "--gallery", "{m}", "{w}/a.jpg"],
    ["cluster", "{m}", "--out", "{w}/c"],
    ["crop", "{m}", "{w}/c"],
    ["train", "{m}", "--out", "{w}/r"],
    ["classify", "{m}", "--model", "{w}/model.pt"],
    ["similarity", "{m}", "{w}/a.jpg"],
    ["similarity", "{w}/a.jpg", "{m}"],
    ["video", "{m}"],
    ["video", "{w}/video.mp4", "--gallery", "{m}"],
    ["eval", "lfw", "--data", "{m}"],
    ["gallery", "list", "{m}"],
    ["gallery", "remove", "{m}", "x"],
    ["gallery", "rename", "{m}", "x", "y"],
    ["gallery", "export", "{m}", "{w}/x.npz"],
    ["gallery", "import", "{w}/new.gallery", "{m}"],
]


def test_a_model_that_names_nothing_is_a_usage_error_in_models_fetch_too():
    result = run("models", "fetch", "nope")
    assert result.exit_code == 2 and "unknown pretrained weights 'nope'" in result.output


@pytest.mark.parametrize("command", MISSING_INPUT, ids=[" ".join(c) for c in MISSING_INPUT])
def test_a_missing_input_is_a_usage_error_in_every_command(work, command):
    missing = work / "no-such-photo.jpg"
    before = snapshot(work)
    result = run(*[a.format(w=work, m=missing) for a in command])
    assert result.exit_code == 2, result.output
    assert str(missing) in " ".join(result.output.split())
    assert snapshot(work) == before


# --- recognizer options ------------------------------------------------------------------------

EMBEDDING_COMMANDS = [
    "serve",
    "verify",
    "embed",
    "lfw",
    "similarity",
    "cluster",
    "video",
    "enroll",
    "identify",
    "scan",
]


def test_every_embedding_command_takes_the_recognizer_options():
    wanted = {"--model", "--align", "--device", "--precision", "--backend"}
    for path in _commands_with("--align"):
        if path[-1] in ("crop", "train"):  # cut crops for training: box or similarity only
            continue
        assert path[-1] in EMBEDDING_COMMANDS, path
    for name in EMBEDDING_COMMANDS:
        (path,) = [p for p in _commands_with("--model") if p[-1] == name]
        assert wanted <= _options(path), (name, wanted - _options(path))


def test_a_gallery_command_refuses_an_alignment_that_is_not_the_gallerys(work):
    result = run(
        "identify", "--gallery", work / "people.gallery", work / "a.jpg", "--align", "dlib"
    )
    assert result.exit_code == 2, result.output
    assert "--align dlib is not its alignment" in result.output
    result = run(
        "enroll",
        "--gallery",
        work / "people.gallery",
        "--model",
        "vggface2",
        "Colin",
        work / "a.jpg",
    )
    assert result.exit_code == 2 and "cannot take vggface2/box" in result.output, result.output
    listing = json.loads(run("gallery", "list", work / "people.gallery", "--json").output)
    assert listing == []


def test_enroll_builds_its_recognizer_before_it_creates_a_gallery(work):
    new = work / "new.gallery"
    # An ensemble refuses int8 whatever the cache holds (a cached int8 model would otherwise
    # let "--precision int8" without --calibration through).
    result = run(
        "enroll",
        "--gallery",
        new,
        "--model",
        "ms-celeb-1m+dlib-resnet-v1",
        "--precision",
        "int8",
        "Colin",
        work / "a.jpg",
    )
    assert result.exit_code == 2 and "an ensemble runs with backend='torch'" in result.output
    assert not new.exists(), "a refused enrolment left a gallery behind"
