"""--detector NAME and --min-face-size N on the commands that detect, run as a user runs them:
detect's answers per detector, names checked at parse time, and each command that recognises
faces with CenterFace."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from faceprint.detection import create_detector
from faceprint.images import load_image
from faceprint.pipeline import detection_record
from tests.detection.test_mtcnn import assert_same_faces
from tests.evaluation.test_verification import small_pairs_file
from tests.parity_images import parity_images

#: The LFW photos the recognition commands run on: two of one person, one of another.
POWELL = [("Colin_Powell", n) for n in (1, 2, 3)]
GUL = ("Abdullah_Gul", 1)
#: The LFW images of the MTCNN parity set (tests/parity_images.py) that detect is checked on.
PARITY_LFW = range(0, 200, 25)


def calibrated(detector: str, align: str):
    """Skip, saying so, where the default model has no face filter and thresholds measured for
    ``detector``'s faces cut by ``align`` (MTCNN's would pass over every CenterFace face:
    CenterFace scores faces lower)."""
    from faceprint.pipeline import DEFAULT_MODEL
    from faceprint.weights.factory import get_weights

    record = get_weights(DEFAULT_MODEL)
    pairs = record.calibrated_pairs() if hasattr(record, "calibrated_pairs") else []
    return pytest.mark.skipif(
        (detector, align) not in pairs,
        reason=f"{DEFAULT_MODEL} is not calibrated for {detector}/{align}",
    )


def photo(lfw, name: str, number: int):
    return lfw / "images" / name / f"{name}_{number:04d}.jpg"


def detect_json(run, *args) -> list[dict]:
    return json.loads(run("detect", *args, "--json").stdout)


def largest_first(found):
    sides = found.boxes[:, 2:] - found.boxes[:, :2]
    return found.select(np.argsort(-(sides[:, 0] * sides[:, 1]), kind="stable"))


def shorter_sides(faces: list[dict]) -> np.ndarray:
    boxes = np.array([f["box"] for f in faces]).reshape(-1, 4)
    return np.minimum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])


@pytest.mark.slow
def test_detect_with_centerface_gives_its_own_faces_in_the_same_layout(run, multiface):
    [entry] = detect_json(run, multiface, "--detector", "centerface")
    assert set(entry) == {"image", "faces"} and entry["image"] == str(multiface)
    assert len(entry["faces"]) == 6
    layout = {"box", "probability", "landmarks", "quality"}  # quality: issue 35, in [0, 1]
    assert all(set(f) == layout and 0 <= f["quality"] <= 1 for f in entry["faces"])
    [own] = create_detector("centerface").detect_batch([load_image(multiface)])
    own = largest_first(own)
    assert len(own) == 6
    got = entry["faces"]
    np.testing.assert_allclose([f["box"] for f in got], own.boxes, atol=0.02)
    np.testing.assert_allclose([f["landmarks"] for f in got], own.landmarks, atol=0.02)
    np.testing.assert_allclose([f["probability"] for f in got], own.scores, atol=2e-6)
    areas = [(b[2] - b[0]) * (b[3] - b[1]) for b in (f["box"] for f in got)]
    assert areas == sorted(areas, reverse=True), "faces are not largest first"


@pytest.mark.slow
def test_detect_with_mtcnn_is_unchanged_and_matches_facenet_pytorch(
    run, data_dir, multiface, expected_mtcnn
):
    from faceprint import MTCNN

    every = parity_images(data_dir)
    images = {k: every[k] for k in ["samples/multiface", *(f"lfw/{i:03d}" for i in PARITY_LFW)]}
    assert images["samples/multiface"] == multiface
    answers = detect_json(run, *images.values())
    [explicit] = detect_json(run, multiface, "--detector", "mtcnn")
    assert explicit == answers[0]
    assert len(answers[0]["faces"]) == 6
    mtcnn = MTCNN(keep_all=True)
    for entry, (key, path) in zip(answers, images.items(), strict=True):
        # MTCNN.detect's answer (facenet-pytorch's API), face for face and in its order (largest
        # first), to the JSON's precision; less the faces below its 20 px, which its pyramid
        # also finds now and then, and which --min-face-size 20 leaves out.
        found = mtcnn.detect(load_image(path), landmarks=True)
        faces = [
            detection_record(*face)
            for face in ([] if found[0] is None else zip(*found, strict=True))
            if min(face[0][2] - face[0][0], face[0][3] - face[0][1]) >= 20
        ]
        detections = [
            {k: f[k] for k in ("box", "probability", "landmarks")} for f in entry["faces"]
        ]
        assert detections == faces, key
        theirs = tuple(expected_mtcnn[f"{key}/{k}"] for k in ("boxes", "probs", "points"))
        sides = np.minimum(theirs[0][:, 2] - theirs[0][:, 0], theirs[0][:, 3] - theirs[0][:, 1])
        theirs = tuple(t[sides >= 20] for t in theirs)
        assert_same_faces(
            key,
            tuple(
                np.array([f[k] for f in entry["faces"]], np.float32)
                for k in ("box", "probability", "landmarks")
            ),
            theirs,
        )


@pytest.fixture(scope="module")
def expected_mtcnn() -> dict[str, np.ndarray]:
    from tests.conftest import EXPECTED

    with np.load(EXPECTED / "mtcnn_facenet_pytorch.npz") as f:
        return dict(f)


@pytest.mark.parametrize(
    ("name", "says"),
    [
        ("nope", "unknown detector 'nope'; known: centerface, mtcnn, or two or more"),
        ("mtcnn+nope", "unknown detector 'nope'; known: centerface, mtcnn"),
        ("mtcnn+", "unknown detector ''; known: centerface, mtcnn"),
        ("centerface+centerface", "'centerface+centerface' names a detector twice"),
    ],
)
@pytest.mark.parametrize(
    "command",
    [
        ["detect", "{image}"],
        ["verify", "{image}", "{image}"],
        ["identify", "--gallery", "{tmp}/g.gallery", "{image}"],
        ["enroll", "--gallery", "{tmp}/g.gallery", "Someone", "{image}"],
        ["embed", "{image}", "--out", "{tmp}/e.npz"],
        ["crop", "{folder}", "{tmp}/crops"],
        ["analyze", "{image}"],
        ["eval", "lfw", "--data", "{folder}"],
        ["serve"],
    ],
    ids=lambda c: " ".join(c[:2]) if c[0] == "eval" else c[0],
)
def test_an_unknown_detector_is_a_usage_error_listing_the_known_ones(
    run, tmp_path, multiface, name, says, command
):
    fill = {"image": multiface, "tmp": tmp_path, "folder": multiface.parent}
    result = run(*[a.format(**fill) for a in command], "--detector", name, ok=False)
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--detector'" in result.output and says in result.output
    assert not list(tmp_path.iterdir()), "a usage error wrote something"


@pytest.mark.parametrize("size", ["0", "-5", "nan", "big"])
def test_min_face_size_must_be_a_size(run, multiface, size):
    result = run("detect", multiface, "--min-face-size", size, ok=False)
    assert result.exit_code == 2 and "--min-face-size" in result.output


def test_every_detector_runs_on_the_onnxruntime_backend(run, multiface, tmp_path):
    [entry] = detect_json(run, multiface, "--detector", "centerface", "--backend", "onnxruntime")
    [torch_entry] = detect_json(run, multiface, "--detector", "centerface")
    assert len(entry["faces"]) == len(torch_entry["faces"]) == 6
    for a, b in zip(entry["faces"], torch_entry["faces"], strict=True):
        assert np.allclose(a["box"], b["box"], atol=0.02)
    result = run(
        "embed", multiface, "--out", tmp_path / "e", "--engine", "ray", "--min-face-size",
        "40", ok=False,
    )  # fmt: skip
    assert result.exit_code == 2 and "--engine ray" in result.output
    assert not (tmp_path / "e").exists()


@pytest.mark.slow
def test_detect_with_a_fused_detector(run, multiface):
    [entry] = detect_json(run, multiface, "--detector", "mtcnn+centerface")
    faces = entry["faces"]
    layout = {"box", "probability", "landmarks", "quality"}
    assert len(faces) == 6 and all(set(f) == layout for f in faces)
    assert all(0 <= f["probability"] <= 1 for f in faces)
    [mtcnn] = detect_json(run, multiface)
    [centerface] = detect_json(run, multiface, "--detector", "centerface")
    members = [f["box"] for f in mtcnn["faces"] + centerface["faces"]]
    for face in faces:
        assert face["box"] in members, "a fused face keeps one member's own box"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["mtcnn", "centerface"])
def test_min_face_size_is_honoured_by_each_detector(run, multiface, name):
    [everything] = detect_json(run, multiface, "--detector", name)
    sides = np.sort(shorter_sides(everything["faces"]))
    assert len(sides) == 6
    bar = float(np.round((sides[2] + sides[3]) / 2))  # between the third and fourth smallest
    [kept] = detect_json(run, multiface, "--detector", name, "--min-face-size", bar)
    assert len(kept["faces"]) == 3
    assert (shorter_sides(kept["faces"]) >= bar).all()
    [none] = detect_json(run, multiface, "--detector", name, "--min-face-size", sides[-1] + 20)
    assert none["faces"] == []


@pytest.mark.slow
@calibrated("centerface", "similarity")
def test_recognition_commands_run_with_centerface(run, lfw, tmp_path):
    """verify, enroll, identify, embed and crop with --detector centerface and
    similarity alignment (the pair calibrated for CenterFace)."""
    use = ("--detector", "centerface")
    similarity = (*use, "--align", "similarity")
    a, b, c = (photo(lfw, *p) for p in POWELL)
    other = photo(lfw, *GUL)

    same = json.loads(run("verify", a, b, *similarity, "--json").stdout)
    assert same["same"] is True and same["model"] == "ms-celeb-1m/similarity"
    different = json.loads(run("verify", a, other, *similarity, "--json").stdout)
    assert different["same"] is False and different["distance"] > same["distance"]

    gallery = tmp_path / "people.gallery"
    out = run("enroll", "--gallery", gallery, "Colin_Powell", a, b, *similarity).stdout
    assert "enrolled 2" in out
    run("enroll", "--gallery", gallery, "Abdullah_Gul", other, *use)
    [who] = json.loads(run("identify", "--gallery", gallery, c, *use, "--json").stdout)
    assert who["faces"][0]["identity"] == "Colin_Powell"

    run("embed", a, other, "--out", tmp_path / "e.npz", *similarity)
    with np.load(tmp_path / "e.npz") as f:
        assert f["embedding"].shape == (2, 128) and str(f["model"]) == "ms-celeb-1m/similarity"
        assert (f["box"][:, 2:] - f["box"][:, :2] > 50).all()

    people = tmp_path / "people"
    (people / "Colin_Powell").mkdir(parents=True)
    for p in (a, b):
        (people / "Colin_Powell" / p.name).symlink_to(p)
    out = run("crop", people, tmp_path / "crops", *similarity, "--size", 112).stdout
    assert out.startswith("2 crops written")
    crops = sorted((tmp_path / "crops" / "Colin_Powell").glob("*.png"))
    assert [Image.open(p).size for p in crops] == [(112, 112)] * 2


@pytest.mark.slow
@calibrated("centerface", "similarity")
def test_eval_lfw_with_centerface(run, lfw, tmp_path):
    pairs = small_pairs_file(lfw, tmp_path / "pairs.txt", per_kind=3)
    out = run(
        "eval", "lfw", "--data", lfw, "--pairs", pairs, "--detector", "centerface", "--align",
        "similarity", "--json",
    ).stdout  # fmt: skip
    report = json.loads(out)
    assert report["detector"]["name"] == "centerface" and report["pairs"] == 12
    assert report["missed_detections"] == 0 and report["accuracy"] >= 0.9


@pytest.mark.slow
@calibrated("centerface", "box")  # analyze's recognizer cuts with the model's own alignment
def test_analyze_with_centerface(run, multiface):
    [analysed] = json.loads(run("analyze", multiface, "--detector", "centerface", "--json").stdout)
    faces = analysed["faces"]
    assert len(faces) == 6
    assert all({"box", "probability", "landmarks", "age", "gender"} <= set(f) for f in faces)
