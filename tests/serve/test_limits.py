"""Size parsing and the token bucket."""

from __future__ import annotations

import time

import pytest

from faceprint.serve.http_errors import ApiError
from faceprint.serve.limits import RateLimiter, parse_size


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("10MB", 10_000_000),
        ("512kb", 512_000),
        ("1MiB", 1_048_576),
        ("2048", 2048),
        ("1.5GB", 1_500_000_000),
    ],
)
def test_parse_size(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "ten", "-5MB", "5XB", "0"])
def test_parse_size_refuses(text):
    with pytest.raises(ValueError, match="is not a size"):
        parse_size(text)


def test_bucket_allows_a_burst_then_refuses_with_retry_after():
    limiter = RateLimiter(rate=5)
    for _ in range(5):
        limiter.take("a")
    with pytest.raises(ApiError) as refused:
        limiter.take("a")
    assert refused.value.status == 429 and refused.value.headers == {"Retry-After": "1"}
    limiter.take("b")  # another key has its own bucket
    time.sleep(0.25)
    limiter.take("a")  # a token came back after 1/5 s
