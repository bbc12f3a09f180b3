import numpy as np
from PIL import Image

from maskdet.data.dataset import load_dataset
from maskdet.core.faces import FaceDetector, square_crop_box
from maskdet.core.images import load_image
from maskdet.data.recrop import FaceLocator, frame_crop, search_face
from tests.conftest import EXAMPLES


class CountingDetector:
    """A FaceDetector that counts its calls (to see the cache at work)."""

    def __init__(self, detector: FaceDetector) -> None:
        self.detector, self.calls = detector, 0

    def detect(self, image, threshold, scale=None):
        self.calls += 1
        return self.detector.detect(image, threshold, scale)


def test_a_face_that_fills_its_file_is_still_found(yunet_file):
    photo = load_image(EXAMPLES / "astronaut_no_mask.jpg")
    detector = FaceDetector.load(yunet_file)
    (in_photo,) = detector.detect(photo)
    x1, y1, x2, y2 = in_photo.box
    inset = (x2 - x1) // 10
    tight = photo[y1 + inset:y2 - inset, x1 + inset:x2 - inset]  # tighter than the detector's own box
    found = search_face(detector, tight)
    assert found is not None
    side = max(tight.shape[:2])
    assert max(found.box[2] - found.box[0], found.box[3] - found.box[1]) > 0.7 * side


def test_crops_follow_the_app_geometry(yunet_file):
    photo = load_image(EXAMPLES / "astronaut_mask.jpg")[20:320, 60:360]  # the face fills about 40%
    face = search_face(FaceDetector.load(yunet_file), photo)
    assert face is not None
    framed = frame_crop(photo, face)
    x1, y1, x2, y2 = square_crop_box(face.box, photo.shape[1], photo.shape[0])
    assert framed.image.shape[:2] == (y2 - y1, x2 - x1)
    assert np.all((framed.landmarks >= 0) & (framed.landmarks <= 1))
    assert 0.5 < framed.face_fraction < 0.8 and framed.raw_face_fraction < framed.face_fraction
    nothing = frame_crop(photo, None)
    assert nothing.image is photo and np.isnan(nothing.landmarks).all()


def test_detections_are_cached_and_refreshed_when_a_file_changes(yunet_file, photo_source, tmp_path):
    counting = CountingDetector(FaceDetector.load(yunet_file))
    locator = FaceLocator(counting, tmp_path / "cache")
    files = sorted((photo_source / "with_mask").glob("*.jpg"))
    first = [locator.locate(photo_source, f, load_image(f)) for f in files]
    locator.save()
    calls = counting.calls
    again = FaceLocator(counting, tmp_path / "cache")
    assert [again.locate(photo_source, f, load_image(f)) for f in files] == first
    assert counting.calls == calls
    changed = tmp_path / "copy"
    changed.mkdir()
    target = changed / "x.jpg"
    Image.open(files[0]).save(target)
    again.locate(changed, target, load_image(target))
    Image.open(files[1]).save(target)
    again.locate(changed, target, load_image(target))
    assert counting.calls == calls + 2


def test_a_recopied_folder_keeps_its_cache_until_the_bytes_change(yunet_file, photo_source, tmp_path):
    import os
    import shutil

    source = tmp_path / "source"
    shutil.copytree(photo_source / "with_mask", source / "with_mask")
    files = sorted((source / "with_mask").glob("*.jpg"))[:2]
    counting = CountingDetector(FaceDetector.load(yunet_file))
    locator = FaceLocator(counting, tmp_path / "cache")
    first = [locator.locate(source, f, load_image(f)) for f in files]
    locator.save()
    calls = counting.calls
    for file in files:  # what copying or re-extracting a dataset does: new times, same bytes
        os.utime(file, ns=(1, os.stat(file).st_mtime_ns + 10**12))
    again = FaceLocator(counting, tmp_path / "cache")
    assert [again.locate(source, f, load_image(f)) for f in files] == first
    assert counting.calls == calls
    data = bytearray(files[0].read_bytes())
    data[-3] ^= 0xFF  # same size, other bytes (inside the JPEG's entropy data)
    files[0].write_bytes(bytes(data))
    os.utime(files[0], ns=(1, os.stat(files[0]).st_mtime_ns + 10**12))
    again.locate(source, files[0], load_image(files[0]))
    assert counting.calls == calls + 1


def test_loading_with_a_locator_recrops_real_photos(yunet_file, photo_source, tmp_path):
    locator = FaceLocator(FaceDetector.load(yunet_file), tmp_path / "cache")
    dataset = load_dataset(photo_source, 64, locator=locator)
    found = ~np.isnan(dataset.face_fraction)
    assert found.mean() > 0.9
    assert np.allclose(dataset.face_fraction[found], 2 / 3, atol=0.12)
    assert not np.isnan(dataset.landmarks[found]).any()
