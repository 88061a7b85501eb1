"""schemathesis, every check, against a real server: each answer is one /openapi.json
declares, with the body, media type and headers it declares, and none is a server error.

300 examples an operation were run by hand (see docs/guides/serve.md); the test suite runs
$FACEPRINT_SCHEMATHESIS_EXAMPLES (default 40) to keep CI within a minute or two.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.serve.conftest import make_keys, start_server

SCHEMATHESIS = shutil.which("schemathesis") or str(
    Path(os.sys.executable).with_name("schemathesis")
)


@pytest.mark.slow
def test_schemathesis_finds_nothing(tmp_path):
    if not Path(SCHEMATHESIS).exists():
        pytest.skip("schemathesis is not installed (it is in faceprint[test])")
    examples = os.environ.get("FACEPRINT_SCHEMATHESIS_EXAMPLES", "40")
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
        result = subprocess.run(command, capture_output=True, text=True, timeout=900)
        log = server.running.log.read_text()
    finally:
        server.stop()
    report = result.stdout[-6000:] + result.stderr[-2000:]
    print(result.stdout[-2500:])
    assert result.returncode == 0, report
    assert "Traceback" not in log, log[-3000:]
