"""The Library API on real photos: incremental scans, placement, the verbs, the audit log and
erasure that leaves no byte of a person's vectors in the library's files."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from faceprint.errors import LibraryError
from faceprint.library import Library
from tests.library.conftest import PEOPLE, lfw_photo


def _clusters_by_folder(library: Library) -> dict[str, Counter]:
    """Folder (LFW person, or the group photo) -> Counter of the people ids its faces went to."""
    out: dict[str, Counter] = {}
    for person in library.people():
        for face in person.faces:
            out.setdefault(Path(face.image).parent.name, Counter())[person.id] += 1
    return out


@pytest.mark.slow
def test_scan_finds_each_person_once_and_rescans_nothing(scanned, library_recognizer):
    photos, path = scanned
    with Library(path, recognizer=library_recognizer, who="tester") as library:
        counts = library.counts()
        assert counts["photos"] == sum(len(v) for v in PEOPLE.values()) + 1
        assert counts["pending"] == 0
        by_folder = _clusters_by_folder(library)
        for name, numbers in PEOPLE.items():
            # Every photo of a person went to one cluster, and that cluster is theirs alone.
            [(cluster, n)] = by_folder[name].items()
            assert n == len(numbers)
            assert all(cluster not in c for other, c in by_folder.items() if other != name)
        report, placed = library.scan(photos)
        assert (report.new, report.faces, report.known, report.removed) == (0, 0, 12, 0)
        assert placed.new_clusters == 0


@pytest.mark.slow
def test_one_photo_never_shows_one_person_twice(scanned, library_recognizer):
    _, path = scanned
    with Library(path, recognizer=library_recognizer, who="tester") as library:
        for person in library.people():
            photos = [f.photo for f in person.faces]
            assert len(photos) == len(set(photos)), person
        assert library.store.counts()["faces"] >= 11 + 6  # the group photo's six faces too


@pytest.mark.slow
def test_moved_photo_is_not_embedded_again_and_deleted_one_leaves(library_copy):
    photos, library = library_copy
    library.scan(photos)  # the copy's paths
    before = library.counts()
    (photos / "Tony_Blair" / "Tony_Blair_0001.jpg").rename(photos / "renamed.jpg")
    (photos / "Colin_Powell" / "Colin_Powell_0002.jpg").unlink()
    report, _ = library.scan(photos)
    assert (report.new, report.moved, report.removed) == (0, 1, 1)
    after = library.counts()
    assert after["photos"] == before["photos"] - 1
    assert after["faces"] == before["faces"] - 1
    images = {Path(f.image).name for p in library.people() for f in p.faces}
    assert "renamed.jpg" in images and "Colin_Powell_0002.jpg" not in images
    assert library.audit_log()[-1].details["removed"] == 1


@pytest.mark.slow
def test_named_people_attract_new_faces(library_copy, lfw, library_recognizer, tmp_path):
    from faceprint.gallery import Gallery

    photos, library = library_copy
    colin = next(p for p in library.people() if "Colin_Powell" in p.faces[0].image)
    library.name(colin.id, "Colin Powell")
    # Tony Blair is named in a gallery (enrol), not in the library.
    with Gallery(tmp_path / "people.gallery", recognizer=library_recognizer) as gallery:
        gallery.add("Tony Blair", lfw_photo(lfw, "Tony_Blair", 6))
        new = tmp_path / "new"
        new.mkdir()
        for name in ("Colin_Powell", "Tony_Blair"):
            shutil.copy2(lfw_photo(lfw, name, 5), new)
        report, placed = library.scan(new, gallery=gallery)
    assert report.new == 2 and placed.named == 2
    people = {p.name: p for p in library.people() if p.name}
    assert "Colin_Powell_0005.jpg" in {Path(f.image).name for f in people["Colin Powell"].faces}
    assert [Path(f.image).name for f in people["Tony Blair"].faces] == ["Tony_Blair_0005.jpg"]


@pytest.mark.slow
def test_an_increment_joins_known_people_founds_new_ones_and_moves_nothing(library_copy, lfw):
    photos, library = library_copy
    before = {f.id: p.id for p in library.people() for f in p.faces}
    noise = {f.id for f in library.store.faces() if f.person is None}
    cluster_of = {
        name: next(p.id for p in library.people() if name in p.faces[0].image)
        for name in ("Colin_Powell", "Tony_Blair")
    }
    added = {"Colin_Powell": (5, 6), "Tony_Blair": (5, 6), "George_W_Bush": (1, 2, 3)}
    for name, numbers in added.items():
        for n in numbers:
            shutil.copy2(lfw_photo(lfw, name, n), photos / name if name in PEOPLE else photos)
    report, placed = library.scan(photos)
    assert report.new == 7 and placed.joined == 4 and placed.new_clusters == 1
    after = {f.id: f.person for f in library.store.faces()}
    assert all(after[face] == person for face, person in before.items() if face not in noise)
    by_image = {Path(f.image).name: f.person for f in library.store.faces()}
    for name in ("Colin_Powell", "Tony_Blair"):
        assert {by_image[f"{name}_{n:04d}.jpg"] for n in added[name]} == {cluster_of[name]}
    bush = {by_image[f"George_W_Bush_{n:04d}.jpg"] for n in added["George_W_Bush"]}
    # A person new to the library founds a cluster (photo 3 is too far from 1 and 2 for it).
    assert len(bush - {None}) == 1 and bush.isdisjoint(before.values())


@pytest.mark.slow
def test_full_recluster_finds_the_same_people(library_copy):
    _, library = library_copy
    before = sorted(sorted(f.id for f in p.faces) for p in library.people())
    placed = library.recluster()
    after = sorted(sorted(f.id for f in p.faces) for p in library.people())
    assert after == before and placed.new_clusters == len(before)
    assert library.audit_log()[-1].what == "recluster"


@pytest.mark.slow
def test_verbs_change_people_and_write_the_audit_log(library_copy):
    _, library = library_copy
    clusters = [p for p in library.people() if len(p.faces) >= 3]
    a, b = clusters[0], clusters[1]
    named = library.name(a.id, "Ada")
    assert (named.id, named.name) == (a.id, "Ada")
    with pytest.raises(LibraryError, match="same person"):
        library.merge("Ada", a.id)
    merged = library.merge(b.id, "Ada")
    assert len(merged.faces) == len(a.faces) + len(b.faces)
    with pytest.raises(LibraryError, match="no person or cluster"):
        library.person(b.id)
    groups = library.split("Ada")
    # The two people separate again: Ada keeps one, the other is a cluster again.
    assert sorted(len(g) for g in groups) == sorted([len(a.faces), len(b.faces)])
    assert len(library.person("Ada").faces) == len(groups[0])
    face = groups[1][0]
    moved = library.move(face, "Ada")
    assert face in {f.id for f in moved.faces}
    with pytest.raises(LibraryError, match="no face"):
        library.move(10**9, "Ada")
    with pytest.raises(LibraryError, match="looks like a path"):
        library.name("Ada", "a/b")
    log = library.audit_log()
    assert [e.what for e in log][-4:] == ["name", "merge", "split", "move"]
    assert {e.who for e in log} == {"tester"}, log
    assert all(a.at <= b.at for a, b in zip(log, log[1:], strict=False))
    assert log[-1].details == {"face": face, "from": log[-1].details["from"], "to": moved.id}


def _chunks(vector: np.ndarray, size: int = 32) -> list[bytes]:
    data = np.asarray(vector, dtype=np.float32).tobytes()
    return [data[i : i + size] for i in range(0, len(data), size)]


def _files_with(folder: Path, pieces: list[bytes]) -> list[str]:
    found = []
    for path in sorted(folder.iterdir()):
        data = path.read_bytes()
        found += [path.name for piece in pieces if piece in data]
    return found


@pytest.mark.slow
def test_forget_leaves_no_byte_of_the_vectors(library_copy):
    _, library = library_copy
    person = max(library.people(), key=lambda p: len(p.faces))
    vectors = library.embeddings([f.id for f in person.faces])
    pieces = [piece for v in vectors for piece in _chunks(v)]
    assert _files_with(library.path, pieces)  # there before
    erased = library.forget(person.id)
    assert erased == len(person.faces)
    assert _files_with(library.path, pieces) == []
    entry = library.audit_log()[-1]
    assert (entry.what, entry.details["faces"]) == ("forget", erased)
    with pytest.raises(LibraryError):
        library.person(person.id)
    # The others are all still there.
    assert library.counts()["faces"] > 0
