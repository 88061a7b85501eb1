"""``faceprint serve``: the pipeline and a gallery behind a REST API with keys, limits and
batching of concurrent requests (``pip install "faceprint[serve]"``)."""

from faceprint.serve.config import ServeConfig
from faceprint.serve.keys import KeyFile

__all__ = ["KeyFile", "ServeConfig", "create_app"]


def __getattr__(name: str):
    # create_app brings FastAPI; imported on first use so that keys, the settings and the
    # CLI's option defaults work without the extra.
    if name == "create_app":
        from faceprint.serve.app import create_app

        return create_app
    raise AttributeError(f"module 'faceprint.serve' has no attribute {name!r}")
