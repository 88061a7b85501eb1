"""Optional dependencies: import one, or say which of faceprint's extras installs it."""

from __future__ import annotations

import importlib
from types import ModuleType

from faceprint.errors import MissingExtraError


def require(module: str, extra: str, purpose: str, otherwise: str = "") -> ModuleType:
    """Import ``module`` (e.g. ``"pyarrow.parquet"``) and return it.

    Args:
        module: the module an optional feature needs.
        extra: the extra of faceprint that installs it (``pip install 'faceprint[EXTRA]'``).
        purpose: what needs it, for the message (``"writing .parquet"``).
        otherwise: a way round it, appended to the message (``"or write .npz"``).

    Raises:
        MissingExtraError: the module (or one it imports) is not installed.
    """
    try:
        return importlib.import_module(module)
    except ImportError as e:
        missing = (e.name or module).split(".")[0]  # the package to install
        message = f"{purpose} needs {missing}: pip install 'faceprint[{extra}]'"
        raise MissingExtraError(message + (f", {otherwise}" if otherwise else "")) from None
