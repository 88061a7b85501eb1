"""The one place a gallery's system of record is chosen: a ``postgresql://`` URL opens the
PostgreSQL store, anything else is a SQLite gallery file."""

from __future__ import annotations

import os
from pathlib import Path

from faceprint.gallery.records import Store

#: URL schemes of a PostgreSQL gallery.
DATABASE_SCHEMES = ("postgresql://", "postgres://")


def is_database_url(location: str | os.PathLike) -> bool:
    """Whether ``location`` names a PostgreSQL gallery rather than a file."""
    return isinstance(location, str) and location.startswith(DATABASE_SCHEMES)


def gallery_location(location: str | os.PathLike) -> str | Path:
    """``location`` as the gallery keeps it: the URL as given, or a :class:`~pathlib.Path`."""
    return location if is_database_url(location) else Path(location)


def open_store(
    location: str | os.PathLike,
    model: str | None = None,
    dim: int | None = None,
    create: bool = True,
) -> Store:
    """Open (or create) the gallery's records.

    Args:
        location: a gallery file, or ``postgresql://user:password@host:port/database``.
        model: what made the embeddings (``"model/alignment"``); used to create.
        dim: embedding size; used to create.
        create: create the gallery when missing.

    Raises:
        GalleryError: not a gallery, unreachable, or missing without ``create``.
        MissingExtraError: a PostgreSQL URL without the ``postgres`` extra installed.
    """
    if is_database_url(location):
        from faceprint.gallery.postgres_store import PostgresStore

        return PostgresStore(str(location), model=model, dim=dim, create=create)
    from faceprint.gallery.store import GalleryStore

    return GalleryStore(location, model=model, dim=dim, create=create)
