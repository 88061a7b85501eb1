"""API keys: only salted hashes on disk, mode 0600, scopes, revocation, and the CLI."""

from __future__ import annotations

import json
import stat

import pytest
from click.testing import CliRunner

from faceprint.cli import main
from faceprint.errors import ApiKeyError
from faceprint.serve.keys import KeyFile


def test_file_keeps_only_salted_hashes(tmp_path):
    keys = KeyFile(tmp_path / "keys.json")
    key = keys.create("door", "read")
    text = (tmp_path / "keys.json").read_text()
    assert key.startswith("fpk_") and len(key) == 4 + 12 + 1 + 43
    assert key.split("_", 2)[2] not in text
    assert stat.S_IMODE((tmp_path / "keys.json").stat().st_mode) == 0o600
    [record] = json.loads(text)["keys"]
    assert set(record) == {"id", "name", "scope", "salt", "hash", "created", "revoked"}
    other = KeyFile(tmp_path / "keys.json").create("door2", "read")
    assert json.loads((tmp_path / "keys.json").read_text())["keys"][1]["salt"] != record["salt"]
    assert other != key


@pytest.mark.parametrize(
    ("scope", "allowed"),
    [("read", {"read"}), ("write", {"read", "write"}), ("admin", {"read", "write", "admin"})],
)
def test_scopes_include_lower_ones(tmp_path, scope, allowed):
    keys = KeyFile(tmp_path / "k.json")
    record = keys.check(keys.create("x", scope))
    assert {s for s in ("read", "write", "admin") if record.allows(s)} == allowed


def test_wrong_malformed_and_revoked_keys_fail(tmp_path):
    keys = KeyFile(tmp_path / "k.json")
    key = keys.create("app", "write")
    assert keys.check(key).name == "app"
    assert keys.check(key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    assert keys.check("") is None and keys.check("fpk_zz") is None
    assert keys.check(key.replace(key[4:16], "0" * 12)) is None
    keys.revoke("app")
    assert keys.check(key) is None


def test_a_running_reader_sees_a_revocation(tmp_path):
    server_side = KeyFile(tmp_path / "k.json")
    key = server_side.create("app", "read")
    assert server_side.check(key) is not None
    KeyFile(tmp_path / "k.json").revoke("app")  # another process: `faceprint keys revoke`
    server_side.reload()
    assert server_side.check(key) is None


@pytest.mark.parametrize(
    ("name", "scope", "message"),
    [
        ("has space", "read", "letters, digits"),
        ("x", "root", "scope must be one of"),
        ("dup", "read", "exists already"),
    ],
)
def test_bad_requests(tmp_path, name, scope, message):
    keys = KeyFile(tmp_path / "k.json")
    keys.create("dup", "read")
    with pytest.raises(ApiKeyError, match=message):
        keys.create(name, scope)


def test_foreign_file_is_refused(tmp_path):
    (tmp_path / "k.json").write_text("not json")
    with pytest.raises(ApiKeyError, match="not a faceprint keys file"):
        KeyFile(tmp_path / "k.json")


def test_cli_create_list_revoke(tmp_path):
    runner = CliRunner()
    path = str(tmp_path / "keys.json")
    made = runner.invoke(main, ["keys", "create", path, "door", "--scope", "write"])
    assert made.exit_code == 0
    key = made.stdout.strip()
    assert KeyFile(path).check(key).scope == "write"
    listed = runner.invoke(main, ["keys", "list", path, "--json"])
    [row] = json.loads(listed.stdout)
    assert row["name"] == "door" and row["revoked"] is None and "hash" not in row
    assert runner.invoke(main, ["keys", "revoke", path, "door"]).exit_code == 0
    again = runner.invoke(main, ["keys", "revoke", path, "door"])
    assert again.exit_code == 2 and "no valid key called 'door'" in again.output
    bad = runner.invoke(main, ["keys", "create", path, "x", "--scope", "root"])
    assert bad.exit_code == 2


def test_serve_refuses_an_open_non_loopback_address(tmp_path):
    result = CliRunner().invoke(main, ["serve", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "refusing to serve on 0.0.0.0 without --keys" in result.output


def test_serve_refuses_a_keys_file_without_valid_keys(tmp_path):
    keys = KeyFile(tmp_path / "k.json")
    keys.create("gone", "read")
    keys.revoke("gone")
    result = CliRunner().invoke(main, ["serve", "--keys", str(tmp_path / "k.json")])
    assert result.exit_code == 2
    assert "holds no valid key" in result.output


@pytest.mark.parametrize(("option", "value"), [("--max-bytes", "ten"), ("--rate", "5/fortnight")])
def test_serve_option_errors(option, value):
    result = CliRunner().invoke(main, ["serve", option, value])
    assert result.exit_code == 2
    assert option in result.output


@pytest.mark.slow
def test_keys_work_without_the_serve_extra(tmp_path, cli_without):
    made = cli_without("fastapi", "keys", "create", tmp_path / "keys.json", "door")
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith("fpk_")
    assert KeyFile(tmp_path / "keys.json").check(made.stdout.strip()).name == "door"
