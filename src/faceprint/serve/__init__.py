"""``faceprint serve``: the pipeline and a gallery behind a REST API with keys, limits and
batching of concurrent requests (``pip install "faceprint[serve]"``)."""

from faceprint.serve.app import ServeConfig, create_app
from faceprint.serve.keys import KeyFile

__all__ = ["KeyFile", "ServeConfig", "create_app"]
