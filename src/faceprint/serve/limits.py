"""Limits of ``faceprint serve``: request-body size, the time a body may take to arrive,
per-key request rate, the decoded pixels all requests in flight may hold, and the pixels one
detector batch may be given."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from faceprint.serve.http_errors import ApiError

if TYPE_CHECKING:
    from faceprint.detection.base import Detector


def parse_size(text: str) -> int:
    """``"10MB"`` -> 10_000_000; also ``KB``, ``GB``, ``MiB``, ``KiB``, ``GiB`` and plain bytes.

    Raises:
        ValueError: not a size.
    """
    units = {"": 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9}
    units |= {"KIB": 2**10, "MIB": 2**20, "GIB": 2**30}
    text = text.strip().upper()
    number = text.rstrip("KMGIB")
    unit = text[len(number) :]
    try:
        value = float(number)
    except ValueError:
        value = -1.0
    if unit not in units or value <= 0:
        raise ValueError(f"{text!r} is not a size; write e.g. 10MB, 512KB or 1048576")
    return int(value * units[unit])


def detector_pixels(detect_pixels: int, detector: Detector) -> int:
    """Image pixels per detector batch such that the detector's network is given about
    ``detect_pixels`` pixels (at least 1).

    Whichever detector runs, its memory grows with the pixels its networks see: MTCNN's image
    pyramid, CenterFace's feature maps. Both resize the image by ``input_scale`` first (a
    fused detector: its largest member's), so a batch holds ``input_scale**2`` times fewer
    image pixels. At the same input, CenterFace holds several times the memory per pixel
    that MTCNN's pyramid does at its defaults (the README's serve section has the figures);
    ``--detect-pixels`` is the knob for both.
    """
    return max(1, int(detect_pixels / detector.input_scale**2))


class BodyLimit:
    """ASGI middleware that refuses bodies over ``max_bytes`` with 413.

    A declared ``Content-Length`` over the limit is refused before any of the body is read; a
    body without one (chunked) is counted while it streams and refused once it passes the limit.
    """

    def __init__(self, app, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self, size: str) -> ApiError:
        return ApiError(
            413,
            "too_large",
            f"the request body is {size}; this server takes at most {self.max_bytes} bytes "
            "(--max-bytes). Send a smaller image.",
        )

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            body = self._too_large(f"{int(declared)} bytes").body()
            headers = [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ]
            await send({"type": "http.response.start", "status": 413, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        received = 0

        async def counted():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise self._too_large(f"over {self.max_bytes} bytes")
            return message

        await self.app(scope, counted, send)


class RateLimiter:
    """A token bucket per client: ``rate`` requests a second on average, bursts of ``burst``.

    Written out here because it is a dozen lines and needs no store: one server process keeps
    the buckets in memory, and the event loop's single thread is the only one to touch them.
    """

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate = float(rate)
        self.burst = float(burst if burst is not None else max(1.0, rate))
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, client: str) -> None:
        """Spend one token of ``client``'s bucket.

        Raises:
            ApiError: 429 with ``Retry-After`` when the bucket is empty.
        """
        now = time.monotonic()
        tokens, then = self._buckets.get(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - then) * self.rate)
        if tokens < 1.0:
            wait = math.ceil((1.0 - tokens) / self.rate)
            self._buckets[client] = (tokens, now)
            raise ApiError(
                429,
                "rate_limited",
                f"more than {self.rate:g} requests a second for this key; retry after {wait} s",
                {"Retry-After": str(wait)},
            )
        self._buckets[client] = (tokens - 1.0, now)


class ReceiveTimeout:
    """ASGI middleware that gives a request's body ``seconds`` to arrive, from its first read.

    A client that declares a ``Content-Length`` and then sends less (or nothing) would hold a
    connection and a worker for as long as it likes; past the deadline the answer is 408 and
    the connection is closed. Once the whole body is in, reads pass through untimed (a
    streaming response waits on them for the client to leave).
    """

    def __init__(self, app, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline: float | None = None
        complete = False

        async def timed():
            nonlocal deadline, complete
            if complete:
                return await receive()
            loop = asyncio.get_running_loop()
            deadline = deadline or loop.time() + self.seconds
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                raise ApiError(
                    408,
                    "timeout",
                    f"the request body did not arrive within {self.seconds:g} s "
                    "(--body-timeout); send it whole, or declare its true Content-Length",
                    {"Connection": "close"},
                ) from None
            complete = message["type"] != "http.request" or not message.get("more_body")
            return message

        await self.app(scope, timed, send)


class PixelBudget:
    """Decoded pixels that all requests in flight may hold together: a semaphore counted in
    pixels, which bounds the memory that images cost however many requests arrive at once.

    A request reserves its images' declared pixels before decoding them, shrinks the
    reservation to what it keeps once they are decoded (reduced for the detector), and
    releases it when it has its answer. One that does not fit waits up to ``wait`` seconds for
    others to finish, then is refused with 503. A request larger than the whole budget runs
    when it is alone.

    Args:
        total: pixels, e.g. ``120_000_000``.
        wait: seconds a request may wait for room.
    """

    def __init__(self, total: int, wait: float = 5.0) -> None:
        self.total = int(total)
        self.wait = wait
        self.held = 0
        self._freed: asyncio.Condition | None = None

    def _condition(self) -> asyncio.Condition:
        if self._freed is None:  # made on the event loop that serves the requests
            self._freed = asyncio.Condition()
        return self._freed

    @contextlib.asynccontextmanager
    async def reserve(self, pixels: int) -> AsyncIterator[Reservation]:
        """Hold ``pixels`` (at most the whole budget) until the block ends.

        Raises:
            ApiError: 503 with ``Retry-After`` when no room came within ``wait`` seconds.
        """
        want = min(max(0, int(pixels)), self.total)
        freed = self._condition()
        async with freed:
            try:
                await asyncio.wait_for(
                    freed.wait_for(lambda: self.held + want <= self.total), self.wait
                )
            except TimeoutError:
                raise ApiError(
                    503,
                    "busy",
                    f"the server holds {self.held} of its {self.total} decoded pixels "
                    "(--pixel-budget) for other requests; retry in a moment",
                    {"Retry-After": str(max(1, math.ceil(self.wait)))},
                ) from None
            self.held += want
        reservation = Reservation(self, want)
        try:
            yield reservation
        finally:
            await reservation.resize(0)

    async def _change(self, delta: int) -> None:
        freed = self._condition()
        async with freed:
            self.held += delta
            if delta < 0:
                freed.notify_all()


class Reservation:
    """Pixels held from a :class:`PixelBudget`; they may only shrink."""

    def __init__(self, budget: PixelBudget, pixels: int) -> None:
        self._budget = budget
        self.pixels = pixels

    async def resize(self, pixels: int) -> None:
        """Give back all but ``pixels`` (no-op when that is not fewer than held)."""
        pixels = max(0, int(pixels))
        if pixels < self.pixels:
            freed, self.pixels = self.pixels - pixels, pixels
            await self._budget._change(-freed)
