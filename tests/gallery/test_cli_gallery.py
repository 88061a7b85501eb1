"""enroll / identify / gallery management from the command line."""

from __future__ import annotations

import json

from click.testing import CliRunner
from PIL import Image

from faceprint.cli import main


def run(*args, ok=True):
    result = CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


def test_enroll_identify_manage(lfw, multiface, tmp_path):
    g = tmp_path / "g.gallery"
    for name in ("Colin_Powell", "Tony_Blair"):
        photos = [lfw / "images" / name / f"{name}_{i:04d}.jpg" for i in (1, 2)]
        out = run("enroll", "--gallery", g, name, *photos).stdout
        assert "enrolled 2, already there 0, rejected 0" in out
    rejected = run("enroll", "--gallery", g, "Crowd", multiface)
    assert "enrolled 0" in rejected.stdout and "6 faces found" in rejected.output
    query = lfw / "images" / "Tony_Blair" / "Tony_Blair_0009.jpg"
    report = json.loads(
        run(
            "identify", "--gallery", g, query, multiface, "--json", "--annotate", tmp_path / "ann"
        ).stdout
    )
    assert [f["identity"] for f in report[0]["faces"]] == ["Tony_Blair"]
    assert len(report[1]["faces"]) == 6 and {f["identity"] for f in report[1]["faces"]} == {
        "unknown"
    }
    assert Image.open(tmp_path / "ann" / "Tony_Blair_0009.png").size == (250, 250)
    listing = json.loads(run("gallery", "list", g, "--json").stdout)
    assert {r["name"]: r["faces"] for r in listing} == {"Colin_Powell": 2, "Tony_Blair": 2}
    run("gallery", "rename", g, "Tony_Blair", "Blair")
    run("gallery", "export", g, tmp_path / "g.npz")
    assert "removed Blair (2 faces)" in run("gallery", "remove", g, "Blair").stdout
    assert "imported 2 faces" in run("gallery", "import", g, tmp_path / "g.npz").stdout
    assert "no identity called 'nobody'" in run("gallery", "remove", g, "nobody", ok=False).output


def test_identify_refuses_a_foreign_file(tmp_path, multiface):
    junk = tmp_path / "junk.gallery"
    junk.write_text("hello")
    result = run("identify", "--gallery", junk, multiface, ok=False)
    assert result.exit_code != 0 and "not a faceprint gallery" in result.output
