"""Routes about the service itself: liveness, Prometheus metrics, and the page at /."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from faceprint.serve.dependencies import Admin, ServiceDep
from faceprint.serve.routes.common import KEYED, errors
from faceprint.serve.schemas import Health

router = APIRouter(tags=["admin"])


@router.get("/", include_in_schema=False)
async def page() -> HTMLResponse:
    return HTMLResponse(resources.files("faceprint.serve").joinpath("page.html").read_text())


@router.get("/healthz", summary="Liveness: no key needed", response_model=Health)
async def healthz(service: ServiceDep) -> dict:
    detector = service.recognizer.detector
    return {
        "status": "ok",
        "model": service.recognizer.name,
        "detector": {"name": detector.name, "settings": detector.settings},
    }


@router.get(
    "/metrics",
    summary="Prometheus metrics (admin)",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}} | errors(*KEYED),
)
async def metrics(_: Admin, service: ServiceDep) -> Response:
    return Response(service.metrics.render(), media_type=service.metrics.content_type)
