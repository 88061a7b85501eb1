"""Every kind of bad or unusual input: a clear error naming the problem, or the expected faces."""

from __future__ import annotations

import io
import os
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image

from faceprint.errors import ImageError
from faceprint.images import (
    decode_reduced,
    image_from_bytes,
    load_image,
    to_pil,
    to_rgb_array,
)


@pytest.fixture(scope="module")
def face_image(lfw):
    return Image.open(lfw / "images" / "Aaron_Peirsol" / "Aaron_Peirsol_0001.jpg").convert("RGB")


@pytest.fixture(scope="module")
def reference_box(mtcnn, face_image):
    boxes, _ = mtcnn.detect(face_image)
    assert boxes is not None and len(boxes) == 1
    return boxes[0]


def _png_header_only(path, width, height):
    """A PNG whose header claims width x height (nothing else), for the decompression-bomb guard."""

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b""))


def test_corrupt_file(tmp_path, mtcnn):
    bad = tmp_path / "not_an_image.jpg"
    bad.write_bytes(b"this is not a JPEG at all" * 10)
    with pytest.raises(ImageError, match="not_an_image.jpg: not an image file"):
        mtcnn.detect(bad)


def test_truncated_file(tmp_path, lfw, mtcnn):
    src = (lfw / "images" / "Aaron_Peirsol" / "Aaron_Peirsol_0001.jpg").read_bytes()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(src[: len(src) // 3])
    with pytest.raises(ImageError, match="cut.jpg: cannot decode image .*truncated"):
        mtcnn.detect(cut)


def test_missing_file(tmp_path, mtcnn):
    with pytest.raises(ImageError, match="no such image file"):
        mtcnn.detect(tmp_path / "nope.jpg")


def test_one_pixel_image(mtcnn):
    with pytest.raises(ImageError, match="1x1 pixels: too small"):
        mtcnn.detect(Image.new("RGB", (1, 1)))


@pytest.mark.parametrize("detector", ["mtcnn", "centerface"])
def test_too_small_an_image_is_refused_by_every_detector_naming_the_rule(detector):
    """The floor is the library's (a face in 11 px is none to recognise), so the message names
    the rule, not one detector's window."""
    from faceprint.detection import create_detector

    with pytest.raises(ImageError) as refused:
        create_detector(detector).detect_batch([Image.new("RGB", (40, 11))])
    assert str(refused.value) == (
        "image 0 of the batch is 40x11 pixels: too small to hold a face "
        "(images must be at least 12x12)"
    )


def test_decompression_bomb(tmp_path, mtcnn):
    bomb = tmp_path / "bomb.png"
    _png_header_only(bomb, 30000, 30000)
    with pytest.raises(ImageError, match=r"bomb.png: .*900000000 pixels.*decompression bomb"):
        mtcnn.detect(bomb)


def test_huge_array_is_refused_before_work():
    huge = torch.zeros((30000, 30000, 3), dtype=torch.uint8).expand(30000, 30000, 3)
    with pytest.raises(ImageError, match="decompression-bomb guard"):
        to_rgb_array(huge)


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "P", "CMYK", "I;16", "I"])
def test_modes_find_the_same_face(mode, face_image, reference_box, mtcnn):
    if mode in ("I;16", "I"):
        grey = np.asarray(face_image.convert("L"), dtype=np.uint16) * 257
        img = Image.fromarray(grey.astype(np.uint16 if mode == "I;16" else np.int32))
    else:
        img = face_image.convert(mode)
    boxes, _ = mtcnn.detect(img)
    assert boxes is not None and len(boxes) == 1, mode
    iou = _iou(boxes[0], reference_box)
    assert iou > 0.9, (mode, iou)


def test_sixteen_bit_png_file(tmp_path, face_image, reference_box, mtcnn):
    grey = (np.asarray(face_image.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(grey).save(path)
    arr = to_rgb_array(path)
    assert arr.dtype == np.uint8 and arr.max() > 200, "16-bit data must be scaled, not clipped"
    boxes, _ = mtcnn.detect(path)
    assert _iou(boxes[0], reference_box) > 0.9


def test_exif_rotated_file(tmp_path, face_image, reference_box, mtcnn):
    # Store the pixels rotated and tag them "rotate 90 CW to view": the upright face must come back.
    stored = face_image.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "phone.jpg"
    stored.save(path, exif=exif, quality=95)
    upright = load_image(path)
    assert upright.size == face_image.size
    boxes, _ = mtcnn.detect(path)
    assert _iou(boxes[0], reference_box) > 0.9


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (np.zeros((100, 100, 3), dtype=np.float32), "dtype is float32, expected uint8"),
        (torch.zeros((100, 100, 3)), "dtype is torch.float32, expected torch.uint8"),
        (np.zeros((3, 100, 100), dtype=np.uint8), "looks channels-first"),
        (np.zeros((100, 100, 5), dtype=np.uint8), r"shape \(100, 100, 5\) is not an image"),
        (np.zeros((2, 2, 100, 100, 3), dtype=np.uint8), "shape .* is not an image"),
        (42, "unsupported type int"),
    ],
)
def test_wrong_shape_or_dtype(bad, message, mtcnn):
    with pytest.raises(ImageError, match=message):
        mtcnn.detect(bad)


def test_bad_image_in_batch_is_named(mtcnn, face_image):
    with pytest.raises(ImageError, match="image 1 of the batch"):
        mtcnn.detect([face_image, np.zeros((5, 5, 3), dtype=np.uint8)])


def test_grayscale_array(face_image, reference_box, mtcnn):
    boxes, _ = mtcnn.detect(np.asarray(face_image.convert("L")))
    assert _iou(boxes[0], reference_box) > 0.9


def _iou(a, b):
    from torchvision.ops import box_iou

    return float(box_iou(torch.as_tensor(a[None]), torch.as_tensor(b[None]))[0, 0])


# -- damaged files: the fuzz tests ---------------------------------------------------------------
FUZZ_PIXELS = 4_000_000  # the decoding limit the fuzz passes, as the service passes its own


@pytest.fixture(scope="module")
def mutant_seeds(lfw, multiface):
    from tests.image_mutants import seed_files

    people = ("Aaron_Peirsol", "Colin_Powell", "Tony_Blair")
    return seed_files([lfw / "images" / p / f"{p}_0001.jpg" for p in people] + [multiface])


def _qualified(error: BaseException) -> str:
    kind = type(error)
    return kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__name__}"


@pytest.mark.slow
def test_damaged_files_decode_to_rgb_or_raise_image_error(mutant_seeds):
    """10,000 mutants of JPEG, PNG, TIFF, GIF and WebP seeds through the decoder the CLI and the
    service use: each decodes to an RGB image or raises ImageError naming the file, never
    anything else. The raw Pillow exception behind each ImageError is counted and printed.
    2,000 more go through decode_reduced at a budget that makes it reduce them."""
    from tests.image_mutants import FORMATS, SUFFIX, mutants

    raw: dict[str, int] = {}
    outcomes = {fmt: {"decoded": 0, "refused": 0} for fmt in FORMATS}
    escaped = []
    for i, (fmt, how, data) in enumerate(mutants(mutant_seeds, per_format=2000, seed=34)):
        name = f"mutant{i}{SUFFIX[fmt]}"
        try:
            image = image_from_bytes(data, name, max_pixels=FUZZ_PIXELS)
        except ImageError as e:
            assert str(e).startswith(name), (fmt, how, str(e))
            kind = "faceprint's own check" if e.__context__ is None else _qualified(e.__context__)
            raw[kind] = raw.get(kind, 0) + 1
            outcomes[fmt]["refused"] += 1
        except Exception as e:  # collected, so that one run shows every escape
            escaped.append(f"{name} ({how}): {_qualified(e)}: {e}")
        else:
            assert image.mode == "RGB" and image.width * image.height > 0, (fmt, how)
            try:  # what detection does with it next, metadata included
                assert to_pil(image) is image
            except Exception as e:
                escaped.append(f"{name} ({how}), after decoding: {_qualified(e)}: {e}")
            outcomes[fmt]["decoded"] += 1
    for i, (fmt, how, data) in enumerate(mutants(mutant_seeds, per_format=400, seed=36)):
        name = f"reduced{i}{SUFFIX[fmt]}"
        try:  # through JPEG's draft and the reduction of other formats too
            image = decode_reduced(data, 1500, name, max_pixels=FUZZ_PIXELS).image
        except ImageError as e:
            assert str(e).startswith(name), (fmt, how, str(e))
        except Exception as e:
            escaped.append(f"{name} ({how}): {_qualified(e)}: {e}")
        else:
            assert image.mode == "RGB" and image.width * image.height <= 1500, (fmt, how)
    print("\nraw exceptions behind ImageError:", raw)
    print("per format:", outcomes)
    assert not escaped, f"{len(escaped)} escaped: " + "; ".join(escaped[:20])
    for fmt, seen in outcomes.items():  # the damage reaches both outcomes in every format
        assert seen["decoded"] > 100 and seen["refused"] > 100, (fmt, seen)
    pillow_classes = set(raw) - {"faceprint's own check"}
    assert len(pillow_classes) >= 4, pillow_classes  # more than OSError is wrapped


@pytest.mark.slow
def test_detect_command_on_a_folder_of_damaged_files(mutant_seeds, tmp_path):
    """`faceprint detect` on 500 mutants and an 8x8 image: one "error:" line naming each file
    it cannot use, every other file answered, exit 1, no traceback."""
    import subprocess
    import sys

    from tests.image_mutants import SUFFIX, mutants

    folder = tmp_path / "damaged"
    folder.mkdir()
    unusable = set()
    for i, (fmt, _, data) in enumerate(mutants(mutant_seeds, per_format=100, seed=35)):
        path = folder / f"{i:03d}{SUFFIX[fmt]}"
        path.write_bytes(data)
        try:
            to_rgb_array(path)  # what detect needs: a decodable image, at least 12 x 12
        except ImageError:
            unusable.add(str(path))
    tiny = folder / "tiny.png"  # decodes, but too small for a face: named all the same
    Image.new("RGB", (8, 8)).save(tiny)
    unusable.add(str(tiny))
    assert 50 < len(unusable) < 450
    gifs = sorted(str(p) for p in folder.glob("*.gif"))  # a folder is searched for other kinds
    done = subprocess.run(
        [sys.executable, "-m", "faceprint", "detect", str(folder), *gifs],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 1, done.stderr[-2000:]
    assert "Traceback" not in done.stderr and "Warning" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    named = [line.removeprefix("error: ").split(":")[0].split(" is ")[0] for line in errors]
    assert sorted(named) == sorted(unusable), set(named) ^ unusable
    answered = {line.split(":")[0] for line in done.stdout.splitlines() if "face(s)" in line}
    assert answered == {str(p) for p in folder.iterdir()} - unusable
    assert f"{len(unusable)} of 501 images failed" in done.stderr


# -- huge images, decoded reduced ----------------------------------------------------------------
def test_a_photo_under_the_budget_is_decoded_as_it_is(lfw):
    path = lfw / "images" / "Aaron_Peirsol" / "Aaron_Peirsol_0001.jpg"
    reduced = decode_reduced(path, max_decoded_pixels=250 * 250)
    assert reduced.scale == 1 and reduced.original_size == (250, 250)
    assert np.array_equal(np.asarray(reduced.image), np.asarray(load_image(path)))


@pytest.mark.parametrize(
    ("fmt", "mode", "scale"),
    [("JPEG", "RGB", 4), ("JPEG", "L", 4), ("PNG", "RGB", 4), ("PNG", "P", 4), ("PNG", "I;16", 4)],
)
def test_a_huge_image_is_decoded_within_the_budget(fmt, mode, scale, face_image):
    """1000x800 within 60,000 pixels: JPEG decoded at 1/4 by libjpeg; PNG decoded, then
    box-averaged by 4 (palette and 16-bit images converted first)."""
    big = face_image.resize((1000, 800))
    big = big.convert("L").point(lambda v: v * 256, "I").convert(mode) if mode == "I;16" else big
    data = io.BytesIO()
    (big if mode in ("RGB", "I;16") else big.convert(mode)).save(data, fmt)
    reduced = decode_reduced(data.getvalue(), max_decoded_pixels=60_000, name="big")
    assert reduced.scale == scale and reduced.original_size == (1000, 800)
    assert reduced.image.mode == "RGB" and reduced.image.size == (250, 200)
    assert reduced.image.width * reduced.image.height <= 60_000
    expected = np.asarray(image_from_bytes(data.getvalue()).resize((250, 200)), np.float32)
    assert np.abs(np.asarray(reduced.image, np.float32) - expected).mean() < 6  # same picture


def test_an_odd_size_is_reduced_by_the_factor_that_fits():
    data = io.BytesIO()
    Image.new("RGB", (1001, 999), (90, 120, 30)).save(data, "PNG")
    reduced = decode_reduced(data.getvalue(), max_decoded_pixels=250_000)
    assert reduced.scale == 3 and reduced.image.size == (334, 333)  # by 2: 501 x 500 > 250,000
    assert reduced.image.getpixel((333, 332)) == (90, 120, 30)


def test_a_rotated_huge_jpeg_comes_back_upright(tmp_path, face_image):
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned, shown after a quarter turn clockwise
    path = tmp_path / "phone.jpg"
    face_image.resize((1000, 800)).transpose(Image.Transpose.ROTATE_90).save(path, exif=exif)
    reduced = decode_reduced(path, max_decoded_pixels=60_000)
    assert reduced.original_size == (1000, 800) and reduced.image.size == (250, 200)
    assert reduced.scale == 4


@pytest.mark.slow
def test_faces_found_on_the_reduced_image_map_back(tmp_path, multiface, mtcnn):
    """multiface.jpg blown up 4 times: the faces found on its reduced decoding, mapped back, are
    4 times those found on the photo itself."""
    original = load_image(multiface)
    huge = tmp_path / "huge.jpg"
    original.resize((original.width * 4, original.height * 4)).save(huge, quality=95)
    reduced = decode_reduced(huge, max_decoded_pixels=original.width * original.height)
    assert reduced.scale == 4 and reduced.image.size == original.size
    expected, _ = mtcnn.detect(original)
    found, _ = mtcnn.detect(reduced.image)
    mapped = reduced.to_original(found)
    assert len(mapped) == len(expected) == 6
    for box in expected * 4:
        assert max(_iou(box, other) for other in mapped) > 0.85


def test_no_pixel_budget_is_refused():
    with pytest.raises(ValueError, match="max_decoded_pixels must be positive"):
        decode_reduced(b"\x89PNG", max_decoded_pixels=0)


def test_decode_reduced_errors_name_the_image(tmp_path):
    with pytest.raises(ImageError, match="upload.png: an empty"):
        decode_reduced(b"", 1000, name="upload.png")
    with pytest.raises(ImageError, match="nope.jpg: no such image file"):
        decode_reduced(tmp_path / "nope.jpg", 1000)
    with pytest.raises(ImageError, match="bomb.png: .*900000000 pixels"):
        bomb = tmp_path / "bomb.png"
        _png_header_only(bomb, 30000, 30000)
        decode_reduced(bomb, 1000)


_PEAK_MEMORY = """
import re, sys
import numpy as np
from faceprint.images import decode_reduced, load_image
def status(field):
    return int(re.search(field + r":\\s+(\\d+) kB", open("/proc/self/status").read())[1]) // 1024
def peak_of(work):  # Linux: writing 5 to clear_refs resets the peak (VmHWM) to the current RSS
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    start = status("VmRSS")
    np.asarray(work())
    return status("VmHWM") - start
print(peak_of(lambda: decode_reduced(sys.argv[1], 4_000_000).image))
print(peak_of(lambda: load_image(sys.argv[1])))
"""


@pytest.mark.slow
def test_a_huge_jpeg_is_never_decoded_whole(tmp_path, multiface):
    """A 6300x3308 JPEG within 4 megapixels: libjpeg decodes it at 1/4 (1575 x 827, ~13 MB);
    the full-size decoding that load_image does costs ~190 MB."""
    import subprocess
    import sys

    if not os.access("/proc/self/clear_refs", os.W_OK):
        pytest.skip("needs Linux's /proc/self/clear_refs to measure a peak of memory")
    huge = tmp_path / "huge.jpg"
    load_image(multiface).resize((6300, 3308)).save(huge, quality=90)
    done = subprocess.run(
        [sys.executable, "-c", _PEAK_MEMORY, str(huge)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    reduced_mb, full_mb = map(int, done.stdout.split())
    assert reduced_mb < 40 and full_mb > 100, (reduced_mb, full_mb)


def test_a_damaged_file_opened_by_the_caller_is_an_image_error(tmp_path, lfw):
    from tests.image_mutants import short_header_png

    damaged = tmp_path / "damaged.jpg"
    damaged.write_bytes(
        (lfw / "images" / "Aaron_Peirsol" / "Aaron_Peirsol_0001.jpg").read_bytes()[:3000]
    )
    with pytest.raises(ImageError, match=r"image: cannot decode image \(image file is truncated"):
        to_rgb_array(Image.open(damaged))  # Pillow decodes lazily: here, not in open()
    short = tmp_path / "short.png"
    short.write_bytes(short_header_png(lfw / "images" / "Aaron_Peirsol" / "Aaron_Peirsol_0001.jpg"))
    with pytest.raises(ImageError, match=r"short.png: cannot decode image \(ValueError: Truncated"):
        load_image(short)
