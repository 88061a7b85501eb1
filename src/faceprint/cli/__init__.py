"""The ``faceprint`` command. Thin: it parses arguments and calls the library.

One module per command group; :mod:`faceprint.cli._common` holds the group itself, the options
several commands share and the rule that turns errors into exit codes (0 all handled, 1 some
input failed, 2 usage error).
"""

from faceprint.cli import (  # noqa: F401 - each module adds its commands to the group
    analyze,
    detect,
    embed,
    evaluate,
    export,
    gallery,
    library,
    models,
    serve,
    train,
    verify,
    video,
)
from faceprint.cli._common import main

__all__ = ["main"]
