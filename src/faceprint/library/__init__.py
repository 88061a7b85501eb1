"""People in a photo library: scan a folder incrementally, cluster its faces, name, merge,
split, move and forget people (:class:`Library`)."""

from faceprint.errors import LibraryError
from faceprint.library.library import Library, Person, Placement
from faceprint.library.scan import ScanReport

__all__ = ["Library", "LibraryError", "Person", "Placement", "ScanReport"]
