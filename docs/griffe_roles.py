"""A griffe extension for the API reference: the docstrings name objects with Sphinx roles
(``:class:`~faceprint.MTCNN```), which mkdocstrings' Google-style renderer would print
them as they are (":class: faceprint.MTCNN"); here each becomes inline code (``MTCNN``)."""

from __future__ import annotations

import re
from typing import Any

from griffe import Extension, Object

ROLE = re.compile(r":(?:py:)?(?:attr|class|const|data|exc|func|meth|mod|obj):`(~?)([^`]+)`")


def as_code(match: re.Match) -> str:
    short, target = match.groups()
    return f"`{target.rsplit('.', 1)[-1] if short else target}`"


class SphinxRolesAsCode(Extension):
    """Rewrites every Sphinx role in a docstring as inline code before it is parsed."""

    def on_instance(self, *, obj: Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = ROLE.sub(as_code, obj.docstring.value)
