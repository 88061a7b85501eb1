"""Limits of ``faceprint serve``: request-body size and per-key request rate."""

from __future__ import annotations

import math
import time

from faceprint.serve.http_errors import ApiError


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
