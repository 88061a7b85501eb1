"""A gallery file that is damaged or read-only: every command says so in one line naming the file
and exits 1, never a traceback. Names are one identity whatever their Unicode form, and the
files are the owner's alone."""

from __future__ import annotations

import json
import os
import random
import re
import stat
import subprocess
import sys
import textwrap
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from faceprint.cli import main
from faceprint.errors import GalleryError
from faceprint.gallery import Gallery

PAGE = 4096  # SQLite's default page size: page 1 holds the header and the schema


def _unit_vectors(count: int, seed: int = 0, dim: int = 128) -> np.ndarray:
    """Unit vectors of the default model's size (128)."""
    v = np.random.default_rng(seed).standard_normal((count, dim)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def make_gallery(path: Path, people: int = 50, faces: int = 4) -> Path:
    """A gallery of ``people`` identities with ``faces`` stored faces each (random unit
    vectors of the default model's size)."""
    with Gallery(path) as gallery:
        vectors = _unit_vectors(people * faces)
        for i in range(people):
            rows = slice(i * faces, (i + 1) * faces)
            keys = [f"key {i} {j}" for j in range(faces)]
            sources = [f"photo_{i}_{j}.jpg" for j in range(faces)]
            metadata = [{"photo": f"{i}.{j}"} for j in range(faces)]
            gallery.add_embeddings(f"person {i}", vectors[rows], sources, keys, metadata=metadata)
    return path


def damage(path: Path, seed: int, flips: int = 200) -> None:
    """Flip ``flips`` random bits past the header and schema page, and drop the saved vector
    index, so that opening the gallery reads every record (as a copied gallery does)."""
    data = bytearray(path.read_bytes())
    rng = random.Random(seed)
    for _ in range(flips):
        data[rng.randrange(2 * PAGE, len(data))] ^= 1 << rng.randrange(8)
    path.write_bytes(bytes(data))
    for cached in path.parent.glob(path.name + ".faiss*"):
        cached.unlink()


def one_line_naming(output: str, gallery: Path) -> str:
    """The one line of ``output`` (progress bars aside), which names ``gallery``."""
    lines = [line for line in re.split(r"[\r\n]", output) if line.strip() and "%|" not in line]
    assert len(lines) == 1, output
    assert lines[0].lower().startswith("error: ") and str(gallery) in lines[0], output
    return lines[0]


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("exported")
    make_gallery(folder / "source.gallery", people=3)
    with Gallery(folder / "source.gallery") as gallery:
        return Path(gallery.export(folder / "faces.npz"))


def gallery_commands(gallery: Path, photo: Path, video: Path, npz: Path, out: Path):
    """Every command that opens a gallery, as argument lists."""
    return {
        "enroll": ["enroll", "--gallery", gallery, "Aaron_Peirsol", photo],
        "identify": ["identify", "--gallery", gallery, photo],
        "video": ["video", video, "--gallery", gallery],
        "list": ["gallery", "list", gallery],
        "remove": ["gallery", "remove", gallery, "person 3"],
        "rename": ["gallery", "rename", gallery, "person 4", "someone"],
        "export": ["gallery", "export", gallery, out / "out.npz"],
        "import": ["gallery", "import", gallery, npz],
    }


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_damaged_gallery_is_one_line_in_every_command(seed, tmp_path, lfw, samples, exported):
    gallery = make_gallery(tmp_path / "people.gallery")
    damage(gallery, seed)
    photo = lfw / "images" / "Aaron_Peirsol" / "Aaron_Peirsol_0001.jpg"
    commands = gallery_commands(gallery, photo, samples / "video.mp4", exported, tmp_path)
    for name, args in commands.items():
        result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
        assert result.exit_code == 1, (name, result.output)
        line = one_line_naming(result.output, gallery)
        assert "damaged" in line, (name, line)


@pytest.mark.parametrize(
    ("intact", "damaged", "readers"),
    [
        (b"person 7", b"person \xf7", {"list", "export"}),  # a name that is not UTF-8
        (b"photo_5_1.jpg", b"photo_5_1.jp\xe7", {"export"}),  # a source that is not UTF-8
        (b'"5.1"}', b'"5.1"|', {"export"}),  # a face's metadata that is not JSON
    ],
)
def test_a_damaged_record_is_one_line(intact, damaged, readers, tmp_path):
    gallery = make_gallery(tmp_path / "people.gallery")
    data = gallery.read_bytes()
    assert intact in data
    gallery.write_bytes(data.replace(intact, damaged))
    commands = {
        "export": ["gallery", "export", gallery, tmp_path / "out.npz"],
        "list": ["gallery", "list", gallery],
    }
    for name, args in commands.items():
        result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
        if name not in readers:
            assert result.exit_code == 0, result.output  # it does not read the damaged record
            continue
        assert result.exit_code == 1, (name, result.output)
        assert "damaged" in one_line_naming(result.output, gallery), name


# -- read-only galleries -------------------------------------------------------------------------
# Root writes read-only files regardless of their mode: the commands then run in a process
# without the capabilities that let it (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER).
_RUN_COMMANDS = textwrap.dedent(
    """
    import json, sys
    from click.testing import CliRunner
    from faceprint.cli import main
    results = {}
    for name, args in json.loads(sys.argv[1]).items():
        r = CliRunner().invoke(main, args)
        results[name] = [r.exit_code, r.output, repr(r.exception) if r.exception and not
                         isinstance(r.exception, SystemExit) else None]
    print(json.dumps(results))
    """
)


def _without_root_powers() -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2, 3):
        if libc.prctl(24, capability, 0, 0, 0):  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def run_unprivileged(commands: dict[str, list]) -> dict[str, list]:
    """Run CLI commands in one child process that file modes bind, even when we are root."""
    args = json.dumps({k: [str(a) for a in v] for k, v in commands.items()})
    done = subprocess.run(
        [sys.executable, "-c", _RUN_COMMANDS, args],
        capture_output=True,
        text=True,
        timeout=600,
        preexec_fn=_without_root_powers if os.geteuid() == 0 else None,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.slow
def test_a_read_only_gallery_is_one_line(tmp_path, lfw, exported):
    photo = lfw / "images" / "Aaron_Peirsol" / "Aaron_Peirsol_0001.jpg"
    read_only_file = make_gallery(tmp_path / "file" / "people.gallery")
    read_only_file.chmod(0o444)
    in_read_only_folder = make_gallery(tmp_path / "folder" / "people.gallery")
    in_read_only_folder.parent.chmod(0o555)
    commands = {}
    for kind, gallery in (("file", read_only_file), ("folder", in_read_only_folder)):
        every = gallery_commands(gallery, photo, photo, exported, tmp_path)
        for name in ("enroll", "import", "remove", "rename"):
            commands[f"{name} ({kind})"] = every[name]
    try:
        results = run_unprivileged(commands)
    finally:
        in_read_only_folder.parent.chmod(0o755)
    for name, (code, output, exception) in results.items():
        gallery = read_only_file if "file" in name else in_read_only_folder
        assert exception is None and code == 1, (name, code, output, exception)
        assert "read-only" in one_line_naming(output, gallery), (name, output)
    with Gallery(read_only_file) as gallery:  # untouched
        assert len(gallery) == 200 and "person 3" in {i.name for i in gallery.list()}


# -- file modes and names --------------------------------------------------------------------------
def test_a_new_gallery_and_its_side_files_are_the_owners_alone(tmp_path):
    old = os.umask(0o022)
    try:
        with Gallery(tmp_path / "people.gallery") as gallery:
            gallery.add_embeddings("someone", _unit_vectors(1))
            side = sorted(tmp_path.glob("people.gallery-*"))
            assert [p.name for p in side] == ["people.gallery-shm", "people.gallery-wal"]
            modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in [gallery.path, *side]}
        index = tmp_path / "people.gallery.faiss"
        modes[index.name] = stat.S_IMODE(index.stat().st_mode)
    finally:
        os.umask(old)
    assert modes == dict.fromkeys(modes, 0o600) and len(modes) == 4, modes


NFC = unicodedata.normalize("NFC", "José Müller")
NFD = unicodedata.normalize("NFD", "José Müller")


def test_a_name_in_nfc_and_in_nfd_is_one_identity(tmp_path):
    assert NFC != NFD
    path = tmp_path / "people.gallery"
    with Gallery(path) as gallery:
        gallery.add_embeddings(NFC, _unit_vectors(1, seed=1), source_keys=["a"])
        gallery.add_embeddings(NFD, _unit_vectors(1, seed=2), source_keys=["b"])
        assert [(i.name, i.faces) for i in gallery.list()] == [(NFC, 2)]
        assert len(gallery.faces(NFD)) == 2 and gallery.store.has_source("a", NFD)
        gallery.rename(NFD, unicodedata.normalize("NFD", "Zoë"))
        assert [i.name for i in gallery.list()] == [unicodedata.normalize("NFC", "Zoë")]
        with pytest.raises(GalleryError, match="exists already"):
            gallery.add_embeddings("Ana", _unit_vectors(1, seed=3))
            gallery.rename("Ana", unicodedata.normalize("NFD", "Zoë"))
        assert gallery.remove(unicodedata.normalize("NFD", "Zoë")) == 2
    result = CliRunner().invoke(main, ["gallery", "remove", str(path), NFD])
    assert result.exit_code == 1 and "no identity called" in result.output
    with Gallery(path) as gallery:
        gallery.add_embeddings(NFD, _unit_vectors(1, seed=4))
    result = CliRunner().invoke(main, ["gallery", "rename", str(path), NFC, "Someone"])
    assert result.exit_code == 0, result.output
