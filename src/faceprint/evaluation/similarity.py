"""Does a generated face keep its identity? Reference and generated images, paired by name,
scored by the cosine similarity of their embeddings, with the statistics papers report.

Pairing is by relative path without extension (``a/001.png`` pairs ``a/001.jpg``). Where no
names pair (or with ``all_pairs``) every generated face is scored against every reference face.
Images without a face, unreadable files and names without a partner are listed, never dropped.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm import tqdm

from faceprint.errors import ImageError
from faceprint.files import atomic_path
from faceprint.images import IMAGE_SUFFIXES, image_files, load_image

if TYPE_CHECKING:
    from faceprint.pipeline import FaceRecognizer


@dataclass
class FaceSet:
    """The largest face of each image of a file or folder.

    Attributes:
        root: the file or folder.
        names: ``(N,)`` relative paths without extension of the images with a face.
        paths: ``(N,)`` their files.
        embeddings: ``(N, D)`` float32 unit embeddings.
        boxes: ``(N, 4)`` float32 detection boxes (the embedded region without detection).
        landmarks: ``(N, 5, 2)`` float32 landmarks (NaN where none were detected).
        missed: name -> why it has no embedding (no face, unreadable, a duplicate name).
    """

    root: Path
    names: list[str]
    paths: list[Path]
    embeddings: np.ndarray
    boxes: np.ndarray
    landmarks: np.ndarray
    missed: dict[str, str] = field(default_factory=dict)

    def index(self) -> dict[str, int]:
        """name -> row."""
        return {name: i for i, name in enumerate(self.names)}


@dataclass
class SimilarityReport:
    """How much identity one set of generated images keeps of the references.

    Attributes:
        ref, gen: the reference and generated file or folder.
        model: what made the embeddings (``model/alignment``).
        threshold: the model's verification distance threshold (``preserved`` is below it).
        paired: True where pairs are matched by name; False for every-against-every scoring.
        gen_names, ref_names: ``(P,)`` the two names of each scored pair.
        similarity: ``(P,)`` cosine similarity in [-1, 1].
        distance: ``(P,)`` L2 distance of the unit embeddings in [0, 2]
            (``sqrt(2 - 2 * similarity)``).
        preserved: ``(P,)`` ``distance < threshold``: the pair verifies as one person.
        retrieved: ``(P,)`` the generated face's nearest reference face is its pair (paired
            reports only; all False otherwise).
        matrix: ``(G, R)`` cosine similarity of every generated face (rows) to every
            reference face (columns).
        matrix_rows, matrix_columns: the names of the rows and columns.
        missed_ref, missed_gen: name -> why it has no face (no face found, unreadable file).
        unpaired_ref, unpaired_gen: names with a face but no partner of the same name.
        ref_faces, gen_faces: the embedded sets (paths, boxes and landmarks of every face).
    """

    ref: Path
    gen: Path
    model: str
    threshold: float
    paired: bool
    gen_names: list[str]
    ref_names: list[str]
    similarity: np.ndarray
    distance: np.ndarray
    preserved: np.ndarray
    retrieved: np.ndarray
    matrix: np.ndarray
    matrix_rows: list[str]
    matrix_columns: list[str]
    missed_ref: dict[str, str]
    missed_gen: dict[str, str]
    unpaired_ref: list[str]
    unpaired_gen: list[str]
    ref_faces: FaceSet = field(repr=False)
    gen_faces: FaceSet = field(repr=False)

    @property
    def pairs(self) -> int:
        """Number of scored pairs."""
        return len(self.similarity)

    @property
    def preserved_rate(self) -> float | None:
        """Fraction of pairs that verify as the same person (None without pairs)."""
        return float(self.preserved.mean()) if self.pairs else None

    @property
    def id_retrieval_top1(self) -> float | None:
        """Fraction of generated faces whose nearest reference is their pair (paired only)."""
        return float(self.retrieved.mean()) if self.pairs and self.paired else None

    def summary(self) -> dict:
        """The report as one JSON-ready object (no per-pair arrays)."""
        stats = {"mean": None, "std": None, "median": None, "min": None, "max": None}
        if self.pairs:
            s = self.similarity.astype(np.float64)
            stats = {
                "mean": float(s.mean()),
                "std": float(s.std()),
                "median": float(np.median(s)),
                "min": float(s.min()),
                "max": float(s.max()),
            }
        return {
            "ref": str(self.ref),
            "gen": str(self.gen),
            "pairing": "by name" if self.paired else "every generated against every reference",
            "pairs": self.pairs,
            **stats,
            "preserved_rate": self.preserved_rate,
            "id_retrieval_top1": self.id_retrieval_top1,
            "missed_ref": {"count": len(self.missed_ref), "names": self.missed_ref},
            "missed_gen": {"count": len(self.missed_gen), "names": self.missed_gen},
            "unpaired_ref": {"count": len(self.unpaired_ref), "names": self.unpaired_ref},
            "unpaired_gen": {"count": len(self.unpaired_gen), "names": self.unpaired_gen},
            "model": self.model,
            "threshold": self.threshold,
            "threshold_similarity": 1.0 - self.threshold**2 / 2.0,
        }


def image_names(root: str | os.PathLike) -> list[tuple[str, Path]]:
    """``(name, path)`` of each image under ``root`` (or of ``root`` itself, a file), sorted.

    The name is the path relative to ``root`` without its extension, with ``/`` separators.
    """
    root = Path(root)
    if root.is_file():
        return [(root.stem, root)]
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such file or folder")
    return [(p.relative_to(root).with_suffix("").as_posix(), p) for p in image_files(root)]


def embed_face_set(
    recognizer, root: str | os.PathLike, progress: bool = False, desc: str | None = None
) -> FaceSet:
    """Embed the largest face of every image under ``root``.

    Args:
        recognizer: a :class:`faceprint.FaceRecognizer`.
        root: an image file or a folder (searched recursively, by suffix).
        progress: show a progress bar.
        desc: its label (default: the folder's name).

    Raises:
        ValueError: the folder holds no image files.
    """
    listed = image_names(root)
    if not listed:
        raise ValueError(f"{root}: no image files (looked for {', '.join(IMAGE_SUFFIXES)})")
    missed: dict[str, str] = {}
    seen: dict[str, Path] = {}
    todo = []
    for name, path in listed:
        if name in seen:
            missed[name + path.suffix] = f"same name as {seen[name].name}"
        else:
            seen[name] = path
            todo.append((name, path))
    names, paths, embeddings, boxes, points = [], [], [], [], []
    chunk = max(1, recognizer.batch_size)
    with tqdm(
        total=len(todo), desc=desc or Path(root).name, unit="img", disable=not progress
    ) as bar:
        for start in range(0, len(todo), chunk):
            loaded = []
            for name, path in todo[start : start + chunk]:
                try:
                    loaded.append((name, path, load_image(path)))
                except ImageError as e:
                    missed[name] = f"unreadable: {e}"
            found = recognizer.embed([image for _, _, image in loaded]) if loaded else []
            for (name, path, _), faces in zip(loaded, found, strict=True):
                if not faces:
                    missed[name] = "no face found"
                    continue
                face = faces[0]  # the largest
                names.append(name)
                paths.append(path)
                embeddings.append(face.embedding)
                boxes.append(face.box)
                points.append(
                    face.landmarks if face.landmarks is not None else np.full((5, 2), np.nan)
                )
            bar.update(len(todo[start : start + chunk]))
    dim = recognizer.embedding_size
    return FaceSet(
        Path(root),
        names,
        paths,
        np.asarray(embeddings, dtype=np.float32).reshape(-1, dim),
        np.asarray(boxes, dtype=np.float32).reshape(-1, 4),
        np.asarray(points, dtype=np.float32).reshape(-1, 5, 2),
        missed,
    )


def compare_face_sets(
    ref: FaceSet, gen: FaceSet, model: str, threshold: float, all_pairs: bool = False
) -> SimilarityReport:
    """Score ``gen`` against ``ref``: by name, or every face against every face.

    Args:
        ref, gen: embedded sets (:func:`embed_face_set`).
        model: the name of what embedded them, for the report.
        threshold: verification distance threshold.
        all_pairs: score every generated face against every reference face even where names
            pair.
    """
    matrix = gen.embeddings @ ref.embeddings.T
    ref_rows = ref.index()
    common = [name for name in gen.names if name in ref_rows]
    paired = bool(common) and not all_pairs
    gen_rows = gen.index()
    if paired:
        g = np.array([gen_rows[n] for n in common], dtype=np.int64)
        r = np.array([ref_rows[n] for n in common], dtype=np.int64)
        nearest = matrix[g].argmax(axis=1) if len(ref.names) else np.zeros(0, np.int64)
        retrieved = nearest == r
    else:
        g, r = (a.ravel() for a in np.indices(matrix.shape))
        retrieved = np.zeros(len(g), dtype=bool)
    similarity = np.clip(matrix[g, r], -1.0, 1.0).astype(np.float32)
    # The distance from the embeddings themselves, as verification computes it.
    distance = np.linalg.norm(gen.embeddings[g] - ref.embeddings[r], axis=1).astype(np.float32)
    unpaired_ref = [n for n in ref.names if n not in gen_rows] if paired else []
    unpaired_gen = [n for n in gen.names if n not in ref_rows] if paired else []
    return SimilarityReport(
        ref=ref.root,
        gen=gen.root,
        model=model,
        threshold=float(threshold),
        paired=paired,
        gen_names=[gen.names[i] for i in g],
        ref_names=[ref.names[i] for i in r],
        similarity=similarity,
        distance=distance,
        preserved=distance < threshold,
        retrieved=retrieved,
        matrix=matrix.astype(np.float32),
        matrix_rows=list(gen.names),
        matrix_columns=list(ref.names),
        missed_ref=dict(ref.missed),
        missed_gen=dict(gen.missed),
        unpaired_ref=unpaired_ref,
        unpaired_gen=unpaired_gen,
        ref_faces=ref,
        gen_faces=gen,
    )


def similarity(
    ref: str | os.PathLike,
    gen: str | os.PathLike | Sequence[str | os.PathLike],
    model: str | os.PathLike = "ms-celeb-1m",
    align: str | None = None,
    all_pairs: bool = False,
    recognizer: FaceRecognizer | None = None,
    progress: bool = False,
    **recognizer_options: Any,
) -> SimilarityReport | list[SimilarityReport]:
    """How much identity generated images keep of reference images.

    Args:
        ref: a reference image file or folder.
        gen: a generated image file or folder, or several (one report each; the references
            are embedded once).
        model: registry name or faceprint model file.
        align: ``"box"``, ``"similarity"``, ``"dlib"`` or ``"none"``; default the model's own
            (see :class:`faceprint.FaceRecognizer`).
        all_pairs: score every generated face against every reference face.
        recognizer: a ready :class:`faceprint.FaceRecognizer` (then ``model``, ``align`` and
            ``recognizer_options`` are not used).
        progress: show progress bars.
        **recognizer_options: passed to :class:`faceprint.FaceRecognizer` (``device``,
            ``far``, ``threshold``, ``precision``, ...).

    Returns:
        A :class:`SimilarityReport`, or a list of them for several ``gen``.

    Example:
        >>> report = faceprint.similarity("originals/", "restored/")
        >>> report.summary()["mean"], report.preserved_rate
    """
    if recognizer is None:
        from faceprint.pipeline import FaceRecognizer

        recognizer = FaceRecognizer(model=model, align=align, **recognizer_options)
    several = not isinstance(gen, (str, os.PathLike))
    gens = list(gen) if several else [gen]
    ref_set = embed_face_set(recognizer, ref, progress, desc=f"reference {Path(ref).name}")
    reports = [
        compare_face_sets(
            ref_set,
            embed_face_set(recognizer, g, progress),
            recognizer.name,
            recognizer.threshold,
            all_pairs,
        )
        for g in gens
    ]
    return reports if several else reports[0]


def report_labels(reports: Sequence[SimilarityReport]) -> list[str]:
    """A short, distinct label per report: the generated folder's name (its path if two
    share a name)."""
    names = [r.gen.name or str(r.gen) for r in reports]
    return [str(r.gen) if names.count(n) > 1 else n for r, n in zip(reports, names, strict=True)]


def write_pairs_csv(reports: Sequence[SimilarityReport], path: str | os.PathLike) -> None:
    """One row per scored pair, and one per image without a score (``missed`` says why)."""
    header = ["gen_set", "gen", "ref", "similarity", "distance", "preserved", "retrieved", "missed"]
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        for label, report in zip(report_labels(reports), reports, strict=True):
            for i in range(report.pairs):
                writer.writerow(
                    [
                        label,
                        report.gen_names[i],
                        report.ref_names[i],
                        f"{report.similarity[i]:.6f}",
                        f"{report.distance[i]:.6f}",
                        int(report.preserved[i]),
                        int(report.retrieved[i]) if report.paired else "",
                        "",
                    ]
                )
            for name, why in report.missed_gen.items():
                writer.writerow([label, name, "", "", "", "", "", why])
            for name, why in report.missed_ref.items():
                writer.writerow([label, "", name, "", "", "", "", why])
            for name in report.unpaired_gen:
                writer.writerow([label, name, "", "", "", "", "", "no reference of that name"])
            for name in report.unpaired_ref:
                writer.writerow([label, "", name, "", "", "", "", "no generated image of it"])


def worst_pairs_sheet(report: SimilarityReport, recognizer, k: int = 16):
    """A contact sheet of the ``k`` least similar pairs: reference and generated face crops
    side by side, with their scores.

    Args:
        report: a report.
        recognizer: the :class:`faceprint.FaceRecognizer` that made it (it cuts the crops).
        k: number of pairs shown.

    Returns:
        An RGB PIL image.
    """
    from faceprint.drawing import contact_sheet

    def face_crop(faces: FaceSet, name: str):
        i = faces.index()[name]
        points = None if np.isnan(faces.landmarks[i]).any() else faces.landmarks[i]
        return recognizer.crop(load_image(faces.paths[i]), faces.boxes[i], points)

    rows = []
    for i in np.argsort(report.similarity, kind="stable")[:k]:
        verdict = "same person" if report.preserved[i] else "NOT the same person"
        rows.append(
            (
                face_crop(report.ref_faces, report.ref_names[i]),
                face_crop(report.gen_faces, report.gen_names[i]),
                f"{report.gen_names[i]}\nvs reference {report.ref_names[i]}\n"
                f"similarity {report.similarity[i]:.3f}\n"
                f"distance {report.distance[i]:.3f}: {verdict}",
            )
        )
    return contact_sheet(rows)


def save_similarity_files(
    reports: Sequence[SimilarityReport], directory: str | os.PathLike, recognizer, worst: int = 16
) -> list[Path]:
    """Write the pictures and tables of one or more reports.

    ``directory`` gets ``pairs.csv`` and ``histogram.png`` for all reports, and per report
    ``matrix.npy`` (generated faces x reference faces), ``matrix_names.json`` (its row and
    column names), ``heatmap.png`` and ``worst.png``: in ``directory`` itself for one report,
    in ``directory/<label>/`` for several.

    Returns:
        The files written.
    """
    from faceprint.evaluation.plots import plot_similarity_heatmap, plot_similarity_histogram

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    labels = report_labels(reports)
    written = [directory / "pairs.csv", directory / "histogram.png"]
    write_pairs_csv(reports, written[0])
    threshold = reports[0].threshold
    plot_similarity_histogram(
        {label: r.similarity for label, r in zip(labels, reports, strict=True)},
        1.0 - threshold**2 / 2.0,
        written[1],
        title=f"identity similarity ({reports[0].model})",
    )
    for label, report in zip(labels, reports, strict=True):
        folder = directory if len(reports) == 1 else directory / label.replace(os.sep, "_")
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(folder / "matrix.npy", suffix=".npy") as tmp:
            np.save(tmp, report.matrix)
        names = {"rows": report.matrix_rows, "columns": report.matrix_columns}
        (folder / "matrix_names.json").write_text(json.dumps(names, indent=1))
        plot_similarity_heatmap(
            report.matrix,
            report.matrix_rows,
            report.matrix_columns,
            folder / "heatmap.png",
            title=f"{label}: cosine similarity to the references",
        )
        written += [folder / "matrix.npy", folder / "matrix_names.json", folder / "heatmap.png"]
        if report.pairs:
            worst_pairs_sheet(report, recognizer, worst).save(folder / "worst.png")
            written.append(folder / "worst.png")
    return written
