"""The service's one error shape: ``{"error": CODE, "detail": "what is wrong and what to do"}``."""

from __future__ import annotations

import json


class ApiError(Exception):
    """An HTTP error answer.

    Args:
        status: HTTP status, e.g. 413.
        code: short machine-readable code, e.g. ``"too_large"``.
        detail: what is wrong and how to fix it.
        headers: extra response headers (``Retry-After``, ``WWW-Authenticate``).
    """

    def __init__(
        self, status: int, code: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.headers = headers or {}

    def body(self) -> bytes:
        """The JSON body."""
        return json.dumps({"error": self.code, "detail": self.detail}).encode()
