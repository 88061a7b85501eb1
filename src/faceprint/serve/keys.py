"""API keys of ``faceprint serve``: a file of salted hashes, scopes, and constant-time checks.

A key is ``fpk_<id>_<secret>``: the id finds the record, the secret is 32 random bytes. The file
keeps only ``sha256(salt + secret)``, never the key, and is written atomically with mode 0600.
A fast hash is enough because the secret carries 256 bits of entropy; a slow password hash
(bcrypt, scrypt) guards guessable passwords and would cost every request milliseconds.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from faceprint.errors import ApiKeyError
from faceprint.files import atomic_path

Scope = Literal["read", "write", "admin"]
#: Each scope includes those before it: write keys may read, admin keys may do anything.
SCOPES: tuple[Scope, ...] = ("read", "write", "admin")
_PREFIX = "fpk"
_KEY = re.compile(rf"^{_PREFIX}_([0-9a-f]{{12}})_([A-Za-z0-9_-]{{43}})$")
_NAME = re.compile(r"^[\w.@+-]{1,64}$")


@dataclass(frozen=True)
class ApiKey:
    """One key's record (the key itself is never stored).

    Attributes:
        id: 12 hex digits, the public part of the key.
        name: who or what holds it, e.g. ``door-controller``.
        scope: ``read``, ``write`` or ``admin``.
        salt: hex salt of the hash.
        hash: hex ``sha256(salt + secret)``.
        created: Unix seconds.
        revoked: Unix seconds of the revocation, or None while it is valid.
    """

    id: str
    name: str
    scope: Scope
    salt: str
    hash: str
    created: float
    revoked: float | None = None

    def allows(self, scope: Scope) -> bool:
        """Whether this key may do what ``scope`` requires."""
        return SCOPES.index(self.scope) >= SCOPES.index(scope)


class KeyFile:
    """The keys file: create, list, revoke and check keys.

    Args:
        path: a JSON file; missing means no keys yet.

    Raises:
        ApiKeyError: the file exists but is not a faceprint keys file.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._keys: dict[str, ApiKey] = {}
        self._stamp: tuple[int, int] | None = None
        self.reload()

    def reload(self) -> None:
        """Read the file again if it changed since it was last read (a revocation takes effect
        in a running server without a restart)."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._keys, self._stamp = {}, None
            return
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp == self._stamp:
            return
        try:
            data = json.loads(self.path.read_text())
            keys = [ApiKey(**k) for k in data["keys"]]
        except (ValueError, KeyError, TypeError) as e:
            raise ApiKeyError(
                f"{self.path}: not a faceprint keys file ({e}); make one with "
                "`faceprint keys create`"
            ) from None
        self._keys, self._stamp = {k.id: k for k in keys}, stamp

    def records(self) -> list[ApiKey]:
        """Every key record, oldest first."""
        return sorted(self._keys.values(), key=lambda k: k.created)

    def create(self, name: str, scope: Scope) -> str:
        """Add a key and return it; this is the only time the key itself is seen.

        Raises:
            ApiKeyError: a bad name or scope, or a valid key of that name exists already.
        """
        if not _NAME.match(name):
            raise ApiKeyError(
                f"key name {name!r}: use 1-64 letters, digits and . _ @ + - (no spaces)"
            )
        if scope not in SCOPES:
            raise ApiKeyError(f"scope must be one of {', '.join(SCOPES)}, got {scope!r}")
        if any(k.name == name and k.revoked is None for k in self._keys.values()):
            raise ApiKeyError(f"a valid key called {name!r} exists already; revoke it first")
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        salt = secrets.token_hex(16)
        self._keys[key_id] = ApiKey(key_id, name, scope, salt, _digest(salt, secret), time.time())
        self._save()
        return f"{_PREFIX}_{key_id}_{secret}"

    def revoke(self, name_or_id: str) -> ApiKey:
        """Revoke the valid key with this name or id; returns its record.

        Raises:
            ApiKeyError: no valid key has that name or id.
        """
        for key in self._keys.values():
            if key.revoked is None and name_or_id in (key.name, key.id):
                revoked = ApiKey(**(asdict(key) | {"revoked": time.time()}))
                self._keys[key.id] = revoked
                self._save()
                return revoked
        raise ApiKeyError(f"no valid key called {name_or_id!r} in {self.path}")

    def check(self, key: str) -> ApiKey | None:
        """The valid record ``key`` belongs to, or None (unknown, malformed, wrong or revoked).

        The secret is compared in constant time, and an unknown id costs the same hash as a
        known one, so timing tells nothing about which part was wrong.
        """
        match = _KEY.match(key)
        key_id, secret = match.groups() if match else ("", key)
        record = self._keys.get(key_id)
        salt, expected = (record.salt, record.hash) if record else ("0" * 32, "0" * 64)
        ok = hmac.compare_digest(_digest(salt, secret), expected)
        if record is None or not ok or record.revoked is not None:
            return None
        return record

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {"format": "faceprint-keys/1", "keys": [asdict(k) for k in self.records()]}
        with atomic_path(self.path) as tmp:
            tmp.chmod(0o600)
            tmp.write_text(json.dumps(data, indent=1))
        stat = self.path.stat()
        self._stamp = (stat.st_mtime_ns, stat.st_size)


def _digest(salt: str, secret: str) -> str:
    return hashlib.sha256(bytes.fromhex(salt) + secret.encode()).hexdigest()
