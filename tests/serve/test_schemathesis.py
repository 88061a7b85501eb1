"""schemathesis, every check, against a real server: each answer is one /openapi.json
declares, with the body, media type and headers it declares, and none is a server error.

It generates up to $FACEPRINT_SCHEMATHESIS_EXAMPLES (default 300) examples an operation, in
all four phases: 5251 requests, about 2.5 minutes on a 2-core machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.serve.conftest import make_keys, start_server

# The one beside this interpreter (its virtualenv), else any on PATH.
_BESIDE = Path(sys.executable).with_name("schemathesis")
SCHEMATHESIS = str(_BESIDE) if _BESIDE.exists() else shutil.which("schemathesis")


@pytest.mark.slow
def test_schemathesis_finds_nothing(tmp_path):
    if SCHEMATHESIS is None:
        pytest.skip("schemathesis is not installed (it is in faceprint[test])")
    examples = os.environ.get("FACEPRINT_SCHEMATHESIS_EXAMPLES", "300")
    keys = make_keys(tmp_path / "keys.json")
    server = start_server(tmp_path, "--max-bytes", "1MB", "--body-timeout", "5")
    try:
        command = [
            SCHEMATHESIS,
            "--config-file",
            str(Path(__file__).with_name("schemathesis.toml")),
            "run",
            f"{server.url}/openapi.json",
            "--checks",
            "all",
            "--max-examples",
            examples,
            "--header",
            f"Authorization: Bearer {keys['admin']}",
            "--generation-database",
            "none",
            "--seed",
            "1",
            "--workers",
            "2",
            "--request-timeout",
            "60",
            "--no-color",
        ]
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=900, cwd=tmp_path
        )  # its cache goes in tmp_path
        log = server.running.log.read_text()
    finally:
        server.stop()
    report = result.stdout[-6000:] + result.stderr[-2000:]
    assert result.returncode == 0, report
    assert "Traceback" not in log, log[-3000:]
