"""The embed job's rows, the local engine, resume, and streaming a dataset into a gallery."""

from __future__ import annotations

import collections
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from faceprint import FaceRecognizer
from faceprint.batch import done_inputs, list_inputs, run_local
from faceprint.batch.rows import embed_rows, read_input
from faceprint.cli import main
from faceprint.errors import DatasetMismatchError, FaceprintError
from faceprint.gallery import Gallery
from faceprint.gallery.exchange import import_face_rows


@pytest.fixture(scope="module")
def recognizer():
    return FaceRecognizer()


def test_every_bad_input_is_a_row_with_its_reason(job_inputs, recognizer):
    photos, bad = job_inputs
    wall = bad[0].replace("corrupt.jpg", "wall.png")
    from PIL import Image

    Image.new("RGB", (200, 200), (128, 128, 128)).save(wall)
    paths = [photos[0], *bad, wall]
    payloads = []
    for path in paths:
        try:
            payloads.append(read_input(path))
        except Exception as e:  # noqa: BLE001 - the engines pass read errors on as text
            payloads.append(str(e))
    rows = embed_rows(recognizer, paths, payloads)
    by_path = {row["path"]: row for row in rows}
    assert by_path[photos[0]]["face"] == 0 and len(by_path[photos[0]]["embedding"]) == 128
    assert 0.0 <= by_path[photos[0]]["quality"] <= 1.0
    assert "corrupt or truncated" in by_path[bad[0]]["error"]
    assert by_path[bad[1]]["error"].endswith("an empty (zero-byte) file")
    assert by_path[bad[2]]["error"].endswith("no such image file")
    assert by_path[bad[3]]["error"].endswith("a directory, not an image file")
    assert by_path[wall]["error"] is None and by_path[wall]["embedding"] is None
    assert by_path[wall]["quality"] is None
    assert {row["model"] for row in rows} == {"ms-celeb-1m"}


def test_inputs_come_from_folders_text_and_parquet_lists(tmp_path, job_inputs):
    import pyarrow as pa

    photos, _ = job_inputs
    text = tmp_path / "list.txt"
    text.write_text("\n".join(photos[:3]) + "\n\n" + photos[0] + "\n")
    assert list_inputs(text) == photos[:3]
    table = tmp_path / "list.parquet"
    pq.write_table(pa.table({"path": photos[3:5]}), table)
    assert list_inputs(table) == photos[3:5]
    assert list_inputs(photos[5]) == [photos[5]]  # an image given itself
    binary = tmp_path / "photo.raw"
    binary.write_bytes(Path(photos[0]).read_bytes())
    with pytest.raises(FaceprintError, match="photo.raw: neither an image .* nor a text list"):
        list_inputs(binary)


def _rows(out):
    table = pq.read_table(out)
    return collections.Counter(
        zip(table.column("path").to_pylist(), table.column("face").to_pylist(), strict=True)
    )


@pytest.mark.slow
def test_local_job_resumes_and_redoes_a_part_cut_short(tmp_path, job_inputs, recognizer):
    photos, bad = job_inputs
    inputs = photos[:24] + bad
    out = tmp_path / "out"
    assert run_local(recognizer, inputs[:10], out, batch_size=4) == 10
    assert run_local(recognizer, inputs, out, batch_size=4) == len(inputs) - 10
    assert run_local(recognizer, inputs, out, batch_size=4) == 0
    parts = sorted(out.glob("*.parquet"))
    cut = parts[0]
    lost = set(pq.read_table(cut).column("path").to_pylist())
    cut.write_bytes(cut.read_bytes()[:100])  # a writer killed mid-file
    assert done_inputs(out) == set(inputs) - lost
    assert run_local(recognizer, inputs, out, batch_size=4) == len(lost)
    rows = _rows(out)
    assert max(rows.values()) == 1 and {p for p, _ in rows} == set(inputs)


def test_dataset_streams_into_a_gallery_named_by_folder(tmp_path, job_inputs, recognizer):
    photos, bad = job_inputs
    out = tmp_path / "out"
    run_local(recognizer, photos[:20] + bad, out, batch_size=8)
    with Gallery(tmp_path / "g.db", recognizer=recognizer) as gallery:
        added = import_face_rows(gallery, out, rows=5)
        again = import_face_rows(gallery, out, rows=5)
        names = {i.name for i in gallery.list()}
        faces = len(gallery)
    table = pq.read_table(out)
    with_face = sum(e is not None for e in table.column("embedding").to_pylist())
    assert added == with_face == faces and again == 0
    assert names == {p.split("/")[-2] for p in photos[:20]}
    embedding = np.asarray(table.column("embedding").drop_null()[0].as_py())
    assert abs(np.linalg.norm(embedding) - 1) < 1e-5


def test_commands_embed_a_list_into_a_dataset_and_import_it(tmp_path, job_inputs):
    photos, bad = job_inputs
    listing = tmp_path / "inputs.txt"
    listing.write_text("\n".join(photos[:6] + bad))
    out = tmp_path / "faces"
    runner = CliRunner()
    result = runner.invoke(main, ["embed", str(listing), "--out", str(out)])
    assert result.exit_code == 1, result.output
    assert "10 inputs (0 already in" in result.stdout and "4 unreadable" in result.stdout
    assert "error: " in result.stderr and "4 of 10 inputs failed" in result.stderr
    again = runner.invoke(main, ["embed", str(listing), "--out", str(out)])
    assert "10 inputs (10 already in" in again.stdout
    gallery = tmp_path / "g.db"
    result = runner.invoke(main, ["gallery", "import", str(out), "--gallery", str(gallery)])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("imported 6 faces into")
    result = runner.invoke(main, ["gallery", "import", str(out)])
    assert result.exit_code == 2 and "give SOURCE --gallery PATH, or PATH SOURCE" in result.output


def test_attributes_columns(tmp_path, job_inputs, recognizer, lfw):
    photos, bad = job_inputs
    inputs = photos[:3] + bad[:1]
    out = tmp_path / "out"
    assert run_local(recognizer, inputs, out, batch_size=2, attributes=True) == len(inputs)
    table = pq.read_table(out)
    assert {"age", "gender", "gender_probability", "emotion"} <= set(table.column_names)
    by_path = {r["path"]: r for r in table.to_pylist()}
    assert by_path[bad[0]]["error"] and by_path[bad[0]]["gender"] is None
    faces = [r for r in table.to_pylist() if r["embedding"] is not None]
    assert faces and all(r["gender"] in ("male", "female") and 10 < r["age"] < 90 for r in faces)
    [(_, attributes)] = recognizer.analyze(inputs[0])
    row = next(r for r in faces if r["path"] == inputs[0] and r["face"] == 0)
    assert row["gender"] == attributes.gender and row["age"] == pytest.approx(
        attributes.age, abs=0.01
    )


def test_a_resumed_job_must_add_rows_like_those_there(tmp_path, job_inputs, recognizer):
    photos, _ = job_inputs
    out = tmp_path / "out"
    assert run_local(recognizer, photos[:2], out, batch_size=2) == 2
    with pytest.raises(DatasetMismatchError, match="holds rows without the --attributes columns"):
        run_local(recognizer, photos[:4], out, attributes=True)
    other = FaceRecognizer("ms-celeb-1m", align="similarity")
    with pytest.raises(
        DatasetMismatchError, match="holds ms-celeb-1m/box embeddings, not ms-celeb-1m/similarity"
    ):
        run_local(other, photos[:4], out)
    assert len(done_inputs(out)) == 2  # nothing was added
    result = CliRunner().invoke(
        main, ["embed", *photos[:4], "--out", str(out), "--attributes"], catch_exceptions=False
    )
    assert result.exit_code == 2 and "resume it without --attributes" in result.output
    assert len(done_inputs(out)) == 2
