"""Size parsing, the token bucket and the pixel budget."""

from __future__ import annotations

import asyncio
import time

import pytest

from faceprint.serve.http_errors import ApiError
from faceprint.serve.limits import PixelBudget, RateLimiter, parse_size


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


def test_pixel_budget_holds_waits_shrinks_and_refuses():
    async def scenario():
        budget = PixelBudget(100, wait=0.3)
        order = []
        async with budget.reserve(70) as first:
            assert budget.held == 70

            async def second():
                async with budget.reserve(60):  # waits until the first shrinks
                    order.append(("second in", budget.held))

            waiting = asyncio.create_task(second())
            await asyncio.sleep(0.05)
            assert order == [] and budget.held == 70
            await first.resize(30)  # decoded, reduced: gives 40 back
            await waiting
            assert order == [("second in", 90)]
            with pytest.raises(ApiError) as refused:
                async with budget.reserve(80):
                    pass
            assert refused.value.status == 503 and refused.value.headers["Retry-After"] == "1"
            assert budget.held == 30
        assert budget.held == 0
        async with budget.reserve(10**9) as alone:  # larger than the budget: runs alone
            assert alone.pixels == budget.held == 100

    asyncio.run(scenario())
