"""What a command may write: no output is one of its inputs or lands among the pictures it
reads, and none replaces an existing file without ``--force``. Every command that writes checks
its outputs here, before any work."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import click

FORCE_OPTION = click.option(
    "--force",
    is_flag=True,
    help="Replace output files that exist (an output that is one of the inputs is refused "
    "even so).",
)


@dataclass(frozen=True)
class Writes:
    """One output of a command, as :func:`check_outputs` checks it.

    Attributes:
        option: how the command line names it, e.g. ``"--annotate"`` or ``"OUT"``.
        path: the file, or the folder, written.
        files: for a folder, the files in it that the command would replace: those that
            exist are refused without ``--force``; ``None``: the folder must be empty or new.
        folder: ``path`` is a folder.
        pictures: it holds pictures, which a later run over an input folder would read as
            inputs: refused inside one.
        kept: it is added to or resumed (a gallery, a dataset folder, a crop folder): that it
            exists is no reason to refuse it.
    """

    option: str
    path: Path | None
    files: tuple[Path, ...] | None = None
    folder: bool = False
    pictures: bool = False
    kept: bool = False


def _same_file(a: Path, b: Path) -> bool:
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
    except OSError:
        pass
    return a.resolve() == b.resolve()


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def check_outputs(inputs: Iterable[Path | None], writes: Iterable[Writes], force: bool) -> None:
    """Refuse, before any work, an output that would destroy something of the user's.

    The rules, each a usage error (exit 2) naming the file: no output is one of the inputs (the
    same file by :func:`os.path.samefile`, or the same resolved path), and no picture output
    lies inside an input folder (a later run over that folder would read it); both hold even
    with ``force``. An output file that exists, or a folder output that holds anything
    (``Writes.files``: one of the files it would replace), is refused unless ``force``.

    Args:
        inputs: the files and folders the command reads, as given (``None`` entries skipped).
        writes: the outputs (``Writes.path`` ``None``: not asked for).
        force: ``--force``: existing output files may be replaced.

    Raises:
        click.UsageError: one of the rules is broken.
    """
    inputs = [Path(i) for i in inputs if i is not None]
    writes = [w for w in writes if w.path is not None]
    folders = [i for i in inputs if i.is_dir()]
    for i, w in enumerate(writes):
        for other in writes[:i]:
            if _same_file(w.path, other.path):
                raise click.UsageError(f"{other.option} and {w.option} both name {w.path}")
        for target in (w.path, *(w.files or ())):
            for item in inputs:
                if _same_file(target, item):
                    raise click.UsageError(
                        f"{w.option} {target} is one of the inputs; it would be overwritten: "
                        "choose another path"
                    )
        if w.pictures:
            for folder in folders:
                if _inside(w.path, folder):
                    raise click.UsageError(
                        f"{w.option} {w.path} is inside the input folder {folder}, where the "
                        "pictures it gets would be read as inputs: choose a path outside it"
                    )
        if w.folder and w.path.exists() and not w.path.is_dir():
            raise click.UsageError(f"{w.option} {w.path} is a file, not a folder")
        if force or w.kept:
            continue
        if not w.folder:
            if w.path.exists():
                raise click.UsageError(
                    f"{w.option} {w.path} exists; pass --force to replace it, or choose "
                    "another path"
                )
        elif w.files is not None:
            there = [f for f in w.files if f.exists()]
            if there:
                which = (
                    f"{there[0]} exists"
                    if len(there) == 1
                    else (f"{there[0]} and {len(there) - 1} more of its files exist")
                )
                raise click.UsageError(
                    f"{w.option}: {which}; pass --force to replace them, or choose another folder"
                )
        elif w.path.is_dir() and any(w.path.iterdir()):
            raise click.UsageError(
                f"{w.option} {w.path} is a folder that is not empty; pass --force to write "
                "into it, or choose a new folder"
            )


def output_names(paths: list[Path]) -> dict[Path, str]:
    """A name per image for the files made from it: its stem, or ``<folder>_<stem>`` where
    stems repeat (``a/1.jpg`` and ``b/1.jpg``), so that no image's output replaces another's.

    Raises:
        click.UsageError: two images would still get one name.
    """
    stems = [p.stem for p in paths]
    names = {p: p.stem if stems.count(p.stem) == 1 else f"{p.parent.name}_{p.stem}" for p in paths}
    seen: dict[str, Path] = {}
    for path, name in names.items():
        if name in seen and seen[name] != path:
            raise click.UsageError(
                f"{seen[name]} and {path} would write files of one name ({name}); give them "
                "in separate runs"
            )
        seen[name] = path
    return names


def annotation_targets(annotate: Path | None, paths: list[Path]) -> tuple[dict[Path, Path], Writes]:
    """Where the picture of each image goes, and the output to check: ``--annotate`` names a
    file for one image; for several, a folder (one ``<image>.png`` each, see
    :func:`output_names`)."""
    if annotate is None:
        return {}, Writes("--annotate", None)
    if len(paths) == 1 and annotate.suffix:
        return {paths[0]: annotate}, Writes("--annotate", annotate, pictures=True)
    targets = {path: annotate / f"{name}.png" for path, name in output_names(paths).items()}
    return targets, Writes(
        "--annotate", annotate, files=tuple(targets.values()), folder=True, pictures=True
    )
