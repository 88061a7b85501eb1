"""``faceprint serve`` and ``faceprint keys``: the REST service and its API keys."""

from __future__ import annotations

import errno
import json
import os
import socket
import sys
from pathlib import Path
from typing import NoReturn

import click

from faceprint.cli._common import (
    ALIGN_OPTION,
    BACKEND_OPTION,
    CALIBRATION_OPTION,
    DEVICE_OPTION,
    OPEN_SET_OPTION,
    PRECISION_OPTION,
    VECTORS_OPTION,
    GalleryLocation,
    detector_choice,
    detector_options,
    from_context,
    main,
    report_error,
)
from faceprint.errors import FaceprintError
from faceprint.extras import require
from faceprint.pipeline import (
    DEFAULT_MODEL,
)
from faceprint.serve.config import ServeConfig
from faceprint.serve.keys import SCOPES


def _size(ctx: click.Context, param: click.Parameter, value: str) -> int:
    from faceprint.serve.limits import parse_size

    try:
        return parse_size(value)
    except ValueError as e:
        raise click.BadParameter(str(e)) from None


def _rate(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    """``"20/s"``, ``"600/min"`` or ``"20"`` -> requests a second."""
    if value is None:
        return None
    count, _, unit = value.partition("/")
    seconds = {"": 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}.get(unit.strip())
    try:
        rate = float(count) / seconds if seconds else -1.0
    except ValueError:
        rate = -1.0
    if rate <= 0:
        raise click.BadParameter(f"{value!r}: write N/s, N/min or N/h with N > 0, e.g. 20/s")
    return rate


_LOOPBACK = ("127.0.0.1", "::1", "localhost")


@main.command()
@click.option(
    "--gallery",
    "gallery_path",
    type=GalleryLocation(),
    default=None,
    help="Gallery for /v1/identify and enrolment (created if missing): a file, or a "
    "PostgreSQL database (postgresql://user:password@host/db) that replicas share.",
)
@VECTORS_OPTION
@click.option(
    "--library",
    "library_path",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="A photo library (faceprint library scan) to review at /library and change through "
    "/v1/library.",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="TCP port."
)
@click.option(
    "--keys",
    "keys_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="API keys file (faceprint keys create). Without it every caller may do everything, "
    "so it is refused on any address but the loopback.",
)
@click.option(
    "--max-bytes",
    default=str(ServeConfig.max_bytes),
    show_default=True,
    callback=_size,
    help="Largest request body (413 beyond), e.g. 10MB, 512KB.",
)
@click.option(
    "--max-pixels",
    default=ServeConfig.max_pixels,
    show_default=True,
    type=click.IntRange(1),
    help="Largest image in pixels, judged from its header before decoding (400 beyond).",
)
@click.option(
    "--detect-pixels",
    default=ServeConfig.detect_pixels,
    show_default=True,
    type=click.IntRange(10_000),
    help="Larger images are reduced to this many pixels as they are decoded; faces are found "
    "there and answered in the image's own pixels.",
)
@click.option(
    "--pixel-budget",
    default=ServeConfig.pixel_budget,
    show_default=True,
    type=click.IntRange(1),
    help="Decoded pixels all requests in flight may hold together (503 beyond): bounds memory.",
)
@click.option(
    "--body-timeout",
    default=ServeConfig.body_timeout,
    show_default=True,
    type=click.FloatRange(0.1),
    help="Seconds a request body has to arrive (408 beyond).",
)
@click.option(
    "--read-only",
    is_flag=True,
    help="Serve the gallery for identification only: enrolment and removal answer 403.",
)
@click.option(
    "--rate", default=None, callback=_rate, help="Requests per key, e.g. 20/s (429 beyond)."
)
@click.option(
    "--batch-size",
    default=ServeConfig.batch_size,
    show_default=True,
    type=click.IntRange(1),
    help="Most images per detector/embedder batch.",
)
@click.option(
    "--batch-wait",
    default=ServeConfig.batch_wait * 1000.0,
    show_default=True,
    type=click.FloatRange(0),
    help="Milliseconds to wait for concurrent requests to batch with; 0 turns batching off.",
)
@click.option(
    "--queue",
    "queue_size",
    default=ServeConfig.queue_size,
    show_default=True,
    type=click.IntRange(1),
    help="Most requests waiting for the networks (503 beyond): bounds memory.",
)
@click.option(
    "--model",
    default=None,
    help=f"Embedding model (default: the gallery's, else {DEFAULT_MODEL}).",
)
@OPEN_SET_OPTION
@ALIGN_OPTION
@detector_options
@DEVICE_OPTION
@PRECISION_OPTION
@BACKEND_OPTION
@CALIBRATION_OPTION
def serve(
    gallery_path,
    vectors,
    library_path,
    host,
    port,
    keys_path,
    max_bytes,
    max_pixels,
    detect_pixels,
    pixel_budget,
    body_timeout,
    read_only,
    rate,
    batch_size,
    batch_wait,
    queue_size,
    model,
    open_set,
    align,
    device,
    precision,
) -> None:
    """Serve detection, verification and identification over HTTP.

    Needs the serve extra (pip install 'faceprint[serve]'). API docs at /docs, a page to try it
    at /.
    """
    for module in ("fastapi", "python_multipart", "prometheus_client", "uvicorn"):
        require(module, "serve", "faceprint serve")
    import uvicorn

    require("fastapi_offline", "serve", "faceprint serve (its /docs, served offline)")
    from faceprint.serve import KeyFile, create_app

    if keys_path is None and host not in _LOOPBACK:
        raise click.UsageError(
            f"refusing to serve on {host} without --keys: anyone could enrol and delete faces. "
            "Make a key with `faceprint keys create KEYS_FILE NAME --scope admin`."
        )
    config = ServeConfig(
        gallery=gallery_path,
        library=library_path,
        vectors=vectors,
        keys=keys_path,
        model=model,
        align=align,
        device=device,
        detector=from_context("--detector", ServeConfig.detector),
        min_face_size=from_context("--min-face-size"),
        precision=precision,
        backend=from_context("--backend", ServeConfig.backend),
        calibration=from_context("--calibration"),
        max_bytes=max_bytes,
        max_pixels=max_pixels,
        detect_pixels=detect_pixels,
        pixel_budget=pixel_budget,
        body_timeout=body_timeout,
        read_only=read_only,
        rate=rate,
        batch_size=batch_size,
        batch_wait=batch_wait / 1000.0,
        queue_size=queue_size,
        open_set=open_set,
    )
    detector_choice()  # a --detector that --backend does not run: exit 2, before any work
    if gallery_path is not None and not read_only and not _writable(gallery_path):
        report_error(
            f"{gallery_path} is read-only for this process: enrolment and removal would fail. "
            "Serve it with --read-only, or make it (and its folder) writable."
        )
        sys.exit(1)
    listening = _listen(host, port)  # a busy port fails here, before the model loads
    try:
        if keys_path is not None:
            create = f"`faceprint keys create {keys_path} NAME --scope admin`"
            if not keys_path.exists():
                raise click.UsageError(f"{keys_path}: no such keys file; make one with {create}")
            if not any(k.revoked is None for k in KeyFile(keys_path).records()):
                raise click.UsageError(f"{keys_path} holds no valid key; add one with {create}")
        app = create_app(config)
    except FaceprintError as e:
        raise click.UsageError(str(e)) from None
    service = app.state.service
    shown = "[::1]" if host == "::1" else host
    click.echo(f"faceprint serve: http://{shown}:{port}  (try it at /, API docs at /docs)")
    click.echo(
        f"model {service.recognizer.name} ({service.recognizer.precision}, {config.backend}), "
        f"detector {service.recognizer.detector.name}"
        + (
            f", gallery {service.gallery.store.location}: {len(service.gallery.list())} identities"
            if gallery_path
            else ""
        )
    )
    click.echo(
        f"keys: {keys_path}"
        if keys_path
        else "no --keys: every caller on this machine may do everything"
    )
    batching = (
        f"batches of up to {batch_size} images, {batch_wait:g} ms wait"
        if batch_wait
        else "batching off"
    )
    click.echo(
        f"{batching}; queue {queue_size}; bodies up to {max_bytes} bytes, images up to "
        f"{max_pixels} pixels (detected within {detect_pixels}, {pixel_budget} decoded pixels "
        f"in flight)" + (f"; {rate:g} requests/s per key" if rate else "")
    )
    if read_only:
        click.echo("gallery served read-only: enrolment and removal answer 403")
    if service.library is not None:
        counts = service.library.counts()
        click.echo(
            f"library {library_path}: {counts['people']} people, {counts['clusters']} clusters; "
            "review it at /library"
        )
    server = uvicorn.Config(app, log_level="warning", timeout_keep_alive=5)
    uvicorn.Server(server).run(sockets=[listening])


def _writable(gallery: Path | str) -> bool:
    """Whether SQLite can write the gallery: the file, and its folder (the write-ahead log
    and a new gallery are made there; a missing folder, in its nearest existing parent). A
    database server's gallery (a URL) is its own to judge."""
    if "://" in str(gallery):
        return True
    gallery = Path(gallery)
    folder = gallery.absolute().parent
    while not folder.exists():
        folder = folder.parent
    return os.access(folder, os.W_OK) and (not gallery.exists() or os.access(gallery, os.W_OK))


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to host:port, handed to uvicorn; a port in use is one line and exit 1."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except OSError as e:
        _cannot_listen(host, port, e)
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError as e:
        sock.close()
        _cannot_listen(host, port, e)
    return sock


def _cannot_listen(host: str, port: int, error: OSError) -> NoReturn:
    in_use = error.errno == errno.EADDRINUSE
    reason = "is in use" if in_use else f"cannot be bound ({error.strerror or error})"
    report_error(f"port {port} on {host} {reason}; pick another with --port")
    sys.exit(1)


@main.group()
def keys() -> None:
    """API keys of faceprint serve: create, list and revoke them."""


_KEYS_FILE = click.argument("keys_file", type=click.Path(dir_okay=False, path_type=Path))


def _key_file(path: Path):
    from faceprint.serve.keys import KeyFile

    try:
        return KeyFile(path)
    except FaceprintError as e:
        raise click.UsageError(str(e)) from None


@keys.command("create")
@_KEYS_FILE
@click.argument("name")
@click.option(
    "--scope",
    type=click.Choice(SCOPES),
    default="read",
    show_default=True,
    help="read: detect, embed, verify, identify; write: also enrol and delete; admin: also "
    "/metrics.",
)
def keys_create(keys_file, name, scope) -> None:
    """Add a key called NAME to KEYS_FILE and print it, this once only.

    The file keeps only a salted hash of the key.
    """
    try:
        key = _key_file(keys_file).create(name, scope)
    except FaceprintError as e:
        raise click.UsageError(str(e)) from None
    click.echo(key)
    click.echo(f"{name} ({scope}) added to {keys_file}; this key is not shown again", err=True)


@keys.command("list")
@_KEYS_FILE
@click.option("--json", "as_json", is_flag=True, help="Print JSON (no hashes).")
def keys_list(keys_file, as_json) -> None:
    """List the keys of KEYS_FILE: id, name, scope, created, revoked."""
    import datetime

    records = _key_file(keys_file).records()
    rows = [
        {"id": k.id, "name": k.name, "scope": k.scope, "created": k.created, "revoked": k.revoked}
        for k in records
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return

    def when(t):
        return "-" if t is None else datetime.datetime.fromtimestamp(t).strftime("%Y-%m-%d %H:%M")

    click.echo(f"{'id':<12}  {'name':<24} {'scope':<6} {'created':<16}  revoked")
    for r in rows:
        click.echo(
            f"{r['id']:<12}  {r['name']:<24} {r['scope']:<6} {when(r['created']):<16}  "
            f"{when(r['revoked'])}"
        )


@keys.command("revoke")
@_KEYS_FILE
@click.argument("name_or_id")
def keys_revoke(keys_file, name_or_id) -> None:
    """Revoke the key called NAME_OR_ID (a running server refuses it from its next request)."""
    try:
        record = _key_file(keys_file).revoke(name_or_id)
    except FaceprintError as e:
        raise click.UsageError(str(e)) from None
    click.echo(f"revoked {record.name} ({record.id})")
