"""One detector call and one embedder call for the requests that arrive together.

Requests put jobs on a bounded queue; one worker thread takes the first job, waits up to
``max_wait`` seconds for more (up to ``max_batch`` images), and runs them through the networks
together. Each image's faces do not depend on its batch-mates: detection runs per image inside
the cascade, and embedding a crop does not look at the other crops.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PIL import Image

from faceprint.pipeline import Face, FaceRecognizer, Region
from faceprint.serve.http_errors import ApiError


@dataclass(frozen=True)
class FacesOf:
    """What was found in one image.

    Attributes:
        regions: the recognisable detections, largest first.
        faces: those detections embedded, in the same order; None for a detection-only job.
        ignored: detections passed over as too unlikely or too small to recognise.
    """

    regions: list[Region]
    faces: list[Face] | None
    ignored: int


@dataclass
class _Job:
    images: list[Image.Image]
    embed: bool
    future: asyncio.Future
    loop: asyncio.AbstractEventLoop


class FaceBatcher:
    """Batches detection and embedding across concurrent requests.

    Args:
        recognizer: the pipeline that detects and embeds.
        max_batch: most images per batch.
        max_wait: seconds the worker waits for more jobs after the first; 0 runs every job on
            its own (no batching).
        max_queue: most jobs waiting; beyond it :meth:`faces` answers 503, so memory is bounded.
        max_pixels: most image pixels per batch (a job larger than this runs alone), which
            bounds the detector's memory: MTCNN's image pyramid and CenterFace's feature maps
            grow with the pixels they are given (:func:`faceprint.serve.limits.detector_pixels`).
        on_batch: called with ``(images, seconds)`` after every batch (metrics).
    """

    def __init__(
        self,
        recognizer: FaceRecognizer,
        max_batch: int = 32,
        max_wait: float = 0.005,
        max_queue: int = 64,
        max_pixels: int | None = None,
        on_batch: Callable[[int, float], None] | None = None,
    ) -> None:
        self.recognizer = recognizer
        self.max_batch = max(1, max_batch)
        self.max_wait = max(0.0, max_wait)
        self.max_pixels = max_pixels
        self._queue: queue.Queue[_Job | None] = queue.Queue(maxsize=max(1, max_queue))
        self._held: _Job | None = None  # a job that did not fit the last batch: the next's first
        self._on_batch = on_batch
        self._thread = threading.Thread(target=self._run, name="faceprint-batcher", daemon=True)
        self._thread.start()

    @property
    def queue_depth(self) -> int:
        """Jobs waiting for the worker."""
        return self._queue.qsize()

    async def faces(self, images: Sequence[Image.Image], embed: bool = True) -> list[FacesOf]:
        """Detect (and embed) the faces of ``images``, one :class:`FacesOf` per image.

        Raises:
            ApiError: 503 when the queue is full.
        """
        loop = asyncio.get_running_loop()
        job = _Job(list(images), embed, loop.create_future(), loop)
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            raise ApiError(
                503,
                "busy",
                "the server's work queue is full; retry in a moment",
                {"Retry-After": "1"},
            ) from None
        return await job.future

    def close(self) -> None:
        """Stop the worker after the jobs already queued."""
        self._queue.put(None)
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            first, self._held = self._held or self._queue.get(), None
            if first is None:
                return
            jobs, stop = self._gather(first)
            started = time.perf_counter()
            try:
                results = self._process(jobs)
            except Exception as e:  # a failure answers its requests; the worker carries on
                for job in jobs:
                    job.loop.call_soon_threadsafe(_settle, job.future, None, e)
            else:
                for job, result in zip(jobs, results, strict=True):
                    job.loop.call_soon_threadsafe(_settle, job.future, result, None)
            if self._on_batch is not None:
                self._on_batch(sum(len(j.images) for j in jobs), time.perf_counter() - started)
            if stop:
                return

    def _gather(self, first: _Job) -> tuple[list[_Job], bool]:
        """The first job and those that join it within ``max_wait``; and whether to stop."""
        jobs, size, pixels = [first], len(first.images), _pixels(first)
        if self.max_wait == 0:
            return jobs, False
        deadline = time.monotonic() + self.max_wait
        while size < self.max_batch:
            try:
                job = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if job is None:
                return jobs, True
            if self.max_pixels is not None and pixels + _pixels(job) > self.max_pixels:
                self._held = job
                break
            jobs.append(job)
            size += len(job.images)
            pixels += _pixels(job)
        return jobs, False

    def _process(self, jobs: list[_Job]) -> list[list[FacesOf]]:
        recognizer = self.recognizer
        images = [image for job in jobs for image in job.images]
        wants = [job.embed for job in jobs for _ in job.images]
        found = recognizer.detect_all(images)
        kept = [[r for r in regions if recognizer.recognisable(r)] for regions in found]
        to_embed = [r for regions, want in zip(kept, wants, strict=True) if want for r in regions]
        embedded = iter(recognizer.embed_regions(images, to_embed))
        per_image = []
        for regions, all_regions, want in zip(kept, found, wants, strict=True):
            faces = [next(embedded) for _ in regions] if want else None
            per_image.append(FacesOf(regions, faces, len(all_regions) - len(regions)))
        out, start = [], 0
        for job in jobs:
            out.append(per_image[start : start + len(job.images)])
            start += len(job.images)
        return out


def _pixels(job: _Job) -> int:
    return sum(image.width * image.height for image in job.images)


def _settle(future: asyncio.Future, result, error: BaseException | None) -> None:
    if future.cancelled():  # the client went away
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
