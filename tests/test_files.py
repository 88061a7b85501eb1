"""faceprint.files: the fingerprint that names a set of files."""

from __future__ import annotations

import os

from faceprint.files import files_fingerprint


def test_a_fingerprint_names_the_set_not_its_order(tmp_path):
    a, b = tmp_path / "a.jpg", tmp_path / "b.jpg"
    a.write_bytes(b"one")
    b.write_bytes(b"two")
    both = files_fingerprint([a, b])
    assert files_fingerprint([b, a]) == both
    assert files_fingerprint([str(tmp_path / "." / "a.jpg"), b]) == both
    assert files_fingerprint([a]) != both


def test_a_changed_file_changes_the_fingerprint(tmp_path):
    a = tmp_path / "a.jpg"
    a.write_bytes(b"one")
    before = files_fingerprint([a])
    a.write_bytes(b"other")
    assert files_fingerprint([a]) != before
    os.utime(a, ns=(1_000_000_000, 1_000_000_000))
    touched = files_fingerprint([a])
    os.utime(a, ns=(2_000_000_000, 2_000_000_000))
    assert files_fingerprint([a]) != touched
