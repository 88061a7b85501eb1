"""``Library``: a folder of photos organised by person, kept current as it grows.

The verbs (scan, people, name, merge, split, move, forget) are the same in the command line,
this API and the service; each change is one transaction with its audit entry (who, what,
when). ``forget`` erases: the person's faces (embeddings, boxes, thumbnails) are deleted, the
audit entry keeps only counts, and the file is compacted so that none of the vectors' bytes
remains in the library's files.
"""

from __future__ import annotations

import getpass
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from faceprint.errors import LibraryError, ModelMismatchError
from faceprint.gallery.core import DEFAULT_FAR
from faceprint.library import clustering
from faceprint.library.scan import ScanReport, scan_folder
from faceprint.library.store import PENDING, AuditEntry, FaceRow, LibraryStore
from faceprint.weights.calibration import open_set_threshold
from faceprint.weights.factory import get_weights

if TYPE_CHECKING:
    from faceprint.gallery.core import GalleryCore
    from faceprint.pipeline import FaceRecognizer

logger = logging.getLogger(__name__)

#: The store's file inside the library folder.
STORE_NAME = "library.db"


@dataclass(frozen=True)
class Person:
    """A named person or an unnamed cluster (``name`` None) with its faces."""

    id: int
    name: str | None
    faces: list[FaceRow]


@dataclass(frozen=True)
class Placement:
    """Where pending faces went: to named people, to existing clusters, to new clusters, or
    noise."""

    named: int = 0
    joined: int = 0
    clustered: int = 0
    new_clusters: int = 0
    noise: int = 0


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


class Library:
    """A photo library: the store in folder ``path`` (``path/library.db``).

    Args:
        path: the library folder (created on first use).
        model: embedding model of a new library (default ``ms-celeb-1m``); an existing one
            keeps its own and refuses another.
        align: alignment of a new library (default: the model's own).
        recognizer: a ready recognizer of the library's model; otherwise built on first need.
        create: create the library when missing.
        far: open-set false-alarm rate with which named people attract new faces.
        min_samples: faces that make a cluster (HDBSCAN's smallest cluster).
        who: the name written to the audit log (default: the user running the process).
        recognizer_options: how the recognizer built on first need runs
            (:class:`faceprint.FaceRecognizer`'s ``device``, ``precision``, ``backend``,
            ``calibration``).

    Raises:
        LibraryError: not a library, or missing without ``create``.
        ModelMismatchError: ``model`` or ``recognizer`` makes other embeddings than the
            library holds.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        model: str | None = None,
        align: str | None = None,
        recognizer: FaceRecognizer | None = None,
        create: bool = True,
        far: float = DEFAULT_FAR,
        min_samples: int = 2,
        who: str | None = None,
        **recognizer_options,
    ) -> None:
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise LibraryError(f"{self.path}: not a folder; a library is a folder")
        if recognizer is not None:
            model = model or recognizer.weights.name
            align = align or recognizer.alignment.method
        explicit = model is not None or align is not None
        if model is None:
            from faceprint.pipeline import DEFAULT_MODEL

            model = DEFAULT_MODEL
        given = get_weights(model)
        wanted = f"{given.name}/{align or given.default_align}"
        if not create and not (self.path / STORE_NAME).exists():
            raise LibraryError(f"{self.path}: no library here (run `faceprint library scan`)")
        self.store = LibraryStore(
            self.path / STORE_NAME, model=wanted, dim=given.embedding_size, create=create
        )
        if self.store.model != wanted and explicit:
            self.store.close()
            raise ModelMismatchError(
                f"{self.path} holds {self.store.model} embeddings; it cannot take {wanted} ones"
            )
        self.model_name, self.align = self.store.model.rsplit("/", 1)
        record = get_weights(self.model_name)
        impostors = record.impostor_distances.get(self.align)
        if impostors is None:
            self.store.close()
            raise LibraryError(
                f"{self.model_name} has no impostor distances for align={self.align!r}, which "
                "the library's thresholds come from"
            )
        self._impostors = impostors
        self._exponent = record.open_set_exponent.get(self.align, 1.0)
        self.far = float(far)
        self.min_samples = int(min_samples)
        self.radii = clustering.Radii.from_calibration(impostors)
        self.who = who or _who()
        self._recognizer = recognizer
        self._options = {k: v for k, v in recognizer_options.items() if v is not None}
        if recognizer is not None and recognizer.name != self.store.model:
            self.store.close()
            raise ModelMismatchError(
                f"{self.path} holds {self.store.model} embeddings, the recognizer makes "
                f"{recognizer.name}"
            )

    @property
    def recognizer(self) -> FaceRecognizer:
        """The recognizer of the library's model (built on first need)."""
        if self._recognizer is None:
            from faceprint.pipeline import FaceRecognizer

            self._recognizer = FaceRecognizer(
                model=self.model_name, align=self.align, **self._options
            )
        return self._recognizer

    def threshold(self, people: int) -> float:
        """The open-set distance below which one of ``people`` named people takes a face."""
        return open_set_threshold(self._impostors, self.far, people, self._exponent)

    # -- scanning and placing -------------------------------------------------------------
    def scan(
        self,
        directory: str | os.PathLike,
        progress: bool = False,
        gallery: GalleryCore | None = None,
        full: bool = False,
        batch_size: int = 16,
    ) -> tuple[ScanReport, Placement]:
        """Bring the library up to date with ``directory`` and place the new faces.

        Args:
            directory: folder of photos (searched recursively).
            progress: show a progress bar.
            gallery: a gallery whose named people attract new faces through its own open-set
                search (its model must be the library's).
            full: re-cluster every unnamed face afterwards (:meth:`recluster`).
            batch_size: photos embedded together (each is stored in its own transaction).

        Raises:
            LibraryError: ``directory`` is not a folder.
        """
        if not Path(directory).is_dir():
            raise LibraryError(f"{directory}: not a folder")
        if gallery is not None and gallery.model != self.store.model:
            raise ModelMismatchError(
                f"the gallery holds {gallery.model} embeddings, the library {self.store.model}"
            )
        report = scan_folder(self.store, directory, lambda: self.recognizer, progress, batch_size)
        placement = self.recluster(gallery) if full else self.place(gallery)
        with self.store.transaction():
            self.store.audit(
                self.who,
                "scan",
                {
                    "folder": str(Path(directory).resolve()),
                    "new": report.new,
                    "faces": report.faces,
                    "moved": report.moved,
                    "removed": report.removed,
                    "failed": len(report.failed),
                    "full": full,
                },
            )
        return report, placement

    def place(self, gallery: GalleryCore | None = None) -> Placement:
        """Place every pending face: named people attract (the open-set rule), then the rest
        joins the unnamed clusters or founds new ones (:func:`clustering.cluster`: attach,
        HDBSCAN of the rest with the noise near it, merge, attach). Faces already in a
        cluster stay where they are; noise may join one. One transaction."""
        with self.store.transaction():
            ids, photos, people, states, vectors = self.store.face_vectors()
            pending = states == PENDING
            if not pending.any():
                return Placement()
            names = {p.id: p.name for p in self.store.people() if p.name is not None}
            is_named = np.isin(people, list(names)) & ~pending
            result = np.full(len(ids), -1, dtype=np.int64)
            todo = np.flatnonzero(pending)
            candidates = clustering.nearest_people(
                vectors[todo], vectors[is_named], people[is_named], self.threshold(1)
            )
            everyone = set(names.values())
            placeholders: dict[int, str] = {}  # gallery people the library has not named yet
            if gallery is not None:
                everyone |= {i.name for i in gallery.list()}
                ids_of = {name: person for person, name in names.items()}
                for found, who in zip(candidates, gallery.search(vectors[todo], k=5), strict=True):
                    for match in who.matches:
                        person = ids_of.get(match.name)
                        if person is None:
                            person = ids_of[match.name] = -2 - len(placeholders)
                            placeholders[person] = match.name
                        found[person] = min(found.get(person, np.inf), match.distance)
            photos_of: dict[int, set[int]] = {}
            for person, photo in zip(people[is_named], photos[is_named], strict=True):
                photos_of.setdefault(int(person), set()).add(int(photo))
            named = clustering.attract(
                candidates, photos[todo], photos_of, self.threshold(len(everyone))
            )
            for placeholder, name in placeholders.items():
                if (named == placeholder).any():
                    named[named == placeholder] = self.store.new_person(name)
            result[todo] = named
            n_named = int((named >= 0).sum())
            # Named people's faces stay out of the clustering: only the open-set rule gives
            # them faces.
            free = ~is_named
            free[todo[named >= 0]] = False
            rows = np.flatnonzero(free)
            before = np.where(pending[rows], -1, people[rows])
            labels = clustering.cluster(
                vectors[rows], photos[rows], before, pending[rows], self.radii, self.min_samples
            )
            return self._write(ids, rows, pending[rows], before, labels, result, n_named, pending)

    def _write(
        self,
        ids: np.ndarray,
        rows: np.ndarray,
        new: np.ndarray,
        before: np.ndarray,
        labels: np.ndarray,
        result: np.ndarray,
        n_named: int,
        pending: np.ndarray,
    ) -> Placement:
        """Store the clustering's labels of faces ``rows`` (new clusters get new people) and
        the named people's faces in ``result``; only faces that change are written."""
        existing = set(before[before >= 0].tolist())
        made = {
            int(label): self.store.new_person()
            for label in np.unique(labels[labels >= 0])
            if int(label) not in existing
        }
        result[rows] = [made.get(int(b), int(b)) if b >= 0 else -1 for b in labels]
        changed = pending.copy()
        changed[rows] = pending[rows] | (labels != before)
        self.store.place(ids[changed].tolist(), result[changed].tolist())
        joined = new & np.isin(labels, list(existing))
        return Placement(
            named=n_named,
            joined=int(joined.sum()),
            clustered=int(((labels >= 0) & ~joined & (new | (before < 0))).sum()),
            new_clusters=len(made),
            noise=int((new & (labels < 0)).sum()),
        )

    def recluster(self, gallery: GalleryCore | None = None) -> Placement:
        """Periodic full re-clustering: every face not of a named person (pending, clustered
        or noise) is clustered anew (:func:`clustering.full_clustering`); named people
        keep their faces (pending faces are offered to them first, and to ``gallery``'s people).
        One transaction, with its audit entry."""
        with self.store.transaction():
            placed = self.place(gallery)
            ids, photos, people, _, vectors = self.store.face_vectors()
            named_ids = {p.id for p in self.store.people() if p.name is not None}
            free = np.flatnonzero(~np.isin(people, list(named_ids)))
            labels = clustering.full_clustering(
                vectors[free], photos[free], self.radii, self.min_samples
            )
            old = {p.id for p in self.store.people() if p.name is None}
            made = {label: self.store.new_person() for label in np.unique(labels[labels >= 0])}
            self.store.place(ids[free].tolist(), [made[int(b)] if b >= 0 else None for b in labels])
            self.store.prune()
            self.store.audit(
                self.who,
                "recluster",
                {"faces": len(free), "clusters_before": len(old), "clusters": len(made)},
            )
            return Placement(
                named=placed.named,
                clustered=int((labels >= 0).sum()),
                new_clusters=len(made),
                noise=int((labels < 0).sum()),
            )

    # -- reading --------------------------------------------------------------------------
    def people(self, clusters: bool = True) -> list[Person]:
        """Named people (by name), then unnamed clusters (largest first), each with its faces."""
        faces: dict[int | None, list[FaceRow]] = {}
        for face in self.store.faces():
            faces.setdefault(face.person, []).append(face)
        return [
            Person(p.id, p.name, faces.get(p.id, []))
            for p in self.store.people()
            if clusters or p.name is not None
        ]

    def person(self, key: str | int) -> Person:
        """The person or cluster called ``key`` (a name, else an id)."""
        row = self.store.person(key)
        return Person(row.id, row.name, self.store.faces(person=row.id))

    def embeddings(self, faces: list[int]) -> np.ndarray:
        """``(N, D)`` embeddings of these faces."""
        return self.store.vectors(faces)

    def thumbnail(self, face: int) -> bytes | None:
        """JPEG thumbnail of one face."""
        return self.store.thumbnail(face)

    def counts(self) -> dict[str, int]:
        """Photos, faces, pending and noise faces, named people and clusters."""
        return self.store.counts()

    def audit_log(self) -> list[AuditEntry]:
        """Every change, oldest first."""
        return self.store.audit_log()

    # -- the lifecycle of people ----------------------------------------------------------
    def name(self, cluster: str | int, name: str, who: str | None = None) -> Person:
        """Name a cluster (or rename a person). A name another person has already merges the
        cluster into that person. Returns the named person.

        Every verb takes ``who``: the name its audit entry gives (default: :attr:`who`)."""
        with self.store.transaction():
            row = self.store.person(cluster)
            other = self.store.person_by_name(name)
            if other is not None and other != row.id:
                moved = self.store.reassign(row.id, other)
                self.store.audit(
                    who or self.who,
                    "name",
                    {"cluster": row.id, "name": name, "merged_into": other, "faces": moved},
                )
                target = other
            else:
                self.store.set_name(row.id, name)
                self.store.audit(
                    who or self.who, "name", {"cluster": row.id, "old": row.name, "name": name}
                )
                target = row.id
        return self.person(target)

    def merge(self, source: str | int, target: str | int, who: str | None = None) -> Person:
        """Move every face of ``source`` to ``target`` and delete ``source``. A merge of a
        named person into an unnamed cluster gives the cluster the name. Returns the target.

        Raises:
            LibraryError: unknown, or the same person twice.
        """
        with self.store.transaction():
            a, b = self.store.person(source), self.store.person(target)
            if a.id == b.id:
                raise LibraryError(f"{source!r} and {target!r} are the same person")
            moved = self.store.reassign(a.id, b.id)
            if b.name is None and a.name is not None:
                self.store.set_name(b.id, a.name)
            self.store.audit(
                who or self.who,
                "merge",
                {
                    "source": a.id,
                    "source_name": a.name,
                    "target": b.id,
                    "target_name": b.name,
                    "faces": moved,
                },
            )
        return self.person(b.id)

    def split(self, person: str | int, who: str | None = None) -> list[list[int]]:
        """Re-cluster one person's faces (HDBSCAN); the largest group stays, every other
        group becomes a new unnamed cluster, and faces in no group stay. Returns the groups'
        face ids, the staying group first.
        """
        with self.store.transaction():
            row = self.store.person(person)
            faces = [f.id for f in self.store.faces(person=row.id)]
            labels = clustering.cluster_embeddings(
                self.store.vectors(faces), min_samples=self.min_samples
            )
            groups = [
                [f for f, b in zip(faces, labels, strict=True) if b == label]
                for label in range(int(labels.max()) + 1 if len(labels) else 0)
            ]
            for group in groups[1:]:
                cluster = self.store.new_person()
                for face in group:
                    self.store.move_face(face, cluster)
            self.store.audit(
                who or self.who,
                "split",
                {"person": row.id, "name": row.name, "groups": [len(g) for g in groups]},
            )
        return groups

    def move(self, face: int, person: str | int, who: str | None = None) -> Person:
        """Give one face to ``person``: a person or cluster (name or id), or a new name, which
        makes a new person. The face's old cluster goes when left empty.

        Raises:
            LibraryError: no such face, or its photo has another face of ``person``.
        """
        with self.store.transaction():
            try:
                target = self.store.person(person).id
            except LibraryError:
                if isinstance(person, int) or str(person).isdigit():
                    raise
                target = self.store.new_person(str(person))
            found = self.store.faces(ids=[int(face)]) if 0 <= int(face) < 2**63 else []
            row = found[0] if found else None
            if row is None:
                raise LibraryError(f"no face with id {face}")
            others = [f for f in self.store.faces(person=target) if f.id != row.id]
            if any(f.photo == row.photo for f in others):
                raise LibraryError(
                    f"face {face} shares its photo with another face of {person!r}; one photo "
                    "shows a person once"
                )
            old = self.store.move_face(int(face), target)
            self.store.prune()
            self.store.audit(
                who or self.who, "move", {"face": int(face), "from": old, "to": target}
            )
        return self.person(target)

    def forget(self, person: str | int, who: str | None = None) -> int:
        """Erase a person or cluster: its faces' embeddings, boxes and thumbnails are deleted,
        the audit log notes who, when and how many faces (never a vector), and the file is
        compacted (VACUUM, log emptied) so no byte of the vectors remains in the library's
        files. Returns the number of faces erased."""
        with self.store.transaction():
            row = self.store.person(person)
            removed = self.store.delete_person(row.id)
            self.store.audit(
                who or self.who, "forget", {"person": row.id, "name": row.name, "faces": removed}
            )
        self.store.compact()
        return removed

    def close(self) -> None:
        """Close the store. Idempotent."""
        if not self.store.closed:
            self.store.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
