"""The routes' dependencies: the service, and the caller's key as a ``Security`` dependency
whose scope each route names (``/openapi.json`` declares the bearer scheme from it)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer, SecurityScopes

from faceprint.gallery.gallery import Gallery
from faceprint.serve.keys import SCOPES, ApiKey
from faceprint.serve.service import Service

bearer = HTTPBearer(
    auto_error=False,
    description="a key made by `faceprint keys create`, as 'Authorization: Bearer <key>'",
)
header_key = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="the same key, in a header of its own"
)


def get_service(request: Request) -> Service:
    """The app's :class:`Service`."""
    return request.app.state.service


async def authorized(
    security_scopes: SecurityScopes,
    request: Request,
    service: Annotated[Service, Depends(get_service)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    key_header: Annotated[str | None, Depends(header_key)],
) -> ApiKey | None:
    """The caller's key record, checked for the route's scope and rate-limited; it runs on the
    event loop, before any of the body is read."""
    scope = max(security_scopes.scopes or ["read"], key=SCOPES.index)
    key = credentials.credentials.strip() if credentials else None
    client = request.client.host if request.client else ""
    return service.authorize(key or key_header or None, scope, client)


Caller = ApiKey | None
Reader = Annotated[Caller, Security(authorized, scopes=["read"])]
Writer = Annotated[Caller, Security(authorized, scopes=["write"])]
Admin = Annotated[Caller, Security(authorized, scopes=["admin"])]
ServiceDep = Annotated[Service, Depends(get_service)]


def readable_gallery(service: ServiceDep) -> Gallery:
    return service.need_gallery()


def writable_gallery(service: ServiceDep) -> Gallery:
    return service.need_gallery(write=True)


ReadGallery = Annotated[Gallery, Depends(readable_gallery)]
WriteGallery = Annotated[Gallery, Depends(writable_gallery)]
