"""Batching concurrent requests: an image's answer does not depend on its batch-mates."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from faceprint.images import load_image
from faceprint.serve.batching import FaceBatcher
from faceprint.serve.http_errors import ApiError

PHOTOS = [
    ("Colin_Powell", 1),
    ("Tony_Blair", 2),
    ("Gerhard_Schroeder", 1),
    ("Jennifer_Capriati", 3),
    ("Donald_Rumsfeld", 5),
]


@pytest.fixture(scope="module")
def images(lfw, portraits):
    lfw_photos = [load_image(lfw / "images" / n / f"{n}_{i:04d}.jpg") for n, i in PHOTOS]
    return lfw_photos + [load_image(p) for p in portraits[:2]]  # other sizes batch beside them


def run_jobs(batcher: FaceBatcher, jobs: list[list]) -> list:
    async def submit():
        return await asyncio.gather(*(batcher.faces(job) for job in jobs))

    return asyncio.run(submit())


@pytest.mark.slow
def test_batched_answers_equal_alone(recognizer, images):
    batches = []
    batcher = FaceBatcher(
        recognizer, max_batch=32, max_wait=0.05, on_batch=lambda n, s: batches.append(n)
    )
    try:
        alone = [run_jobs(batcher, [[image]])[0][0] for image in images]
        together = [answer[0] for answer in run_jobs(batcher, [[image] for image in images])]
    finally:
        batcher.close()
    assert batches[: len(images)] == [1] * len(images)
    assert max(batches[len(images) :]) > 1, "the concurrent jobs were not batched"
    for one, many in zip(alone, together, strict=True):
        assert len(one.faces) == len(many.faces) >= 1
        for a, b in zip(one.faces, many.faces, strict=True):
            np.testing.assert_allclose(a.box, b.box, atol=1e-3)
            assert a.probability == pytest.approx(b.probability, abs=1e-5)
            np.testing.assert_allclose(a.embedding, b.embedding, atol=1e-5)


def test_batch_wait_zero_runs_each_job_alone(recognizer, images):
    batches = []
    batcher = FaceBatcher(recognizer, max_wait=0, on_batch=lambda n, s: batches.append(n))
    try:
        answers = run_jobs(batcher, [[image] for image in images[:4]] + [images[4:6]])
    finally:
        batcher.close()
    assert sorted(batches) == [1, 1, 1, 1, 2]
    assert [len(a) for a in answers] == [1, 1, 1, 1, 2]


def test_detection_only_jobs_carry_no_embeddings(recognizer, images):
    batcher = FaceBatcher(recognizer)
    try:
        detected, embedded = asyncio.run(_both(batcher, images[0]))
    finally:
        batcher.close()
    assert detected[0].faces is None and len(detected[0].regions) == 1
    np.testing.assert_allclose(detected[0].regions[0].box, embedded[0].faces[0].box)


async def _both(batcher, image):
    return await asyncio.gather(batcher.faces([image], embed=False), batcher.faces([image]))


def test_full_queue_answers_503(recognizer, images):
    batcher = FaceBatcher(recognizer, max_wait=0, max_queue=1)

    async def flood():
        return await asyncio.gather(
            *(batcher.faces([images[0]]) for _ in range(6)), return_exceptions=True
        )

    try:
        answers = asyncio.run(flood())
    finally:
        batcher.close()
    refused = [a for a in answers if isinstance(a, ApiError)]
    assert refused and all(a.status == 503 and a.headers == {"Retry-After": "1"} for a in refused)
    assert all(len(a[0].faces) == 1 for a in answers if not isinstance(a, ApiError))
