import urllib.request

import numpy as np
import pytest
from PIL import Image

from maskdet.core import faces
from maskdet.core.faces import (
    DetectorUnavailableError, FaceDetector, resolve_detector_file, square_crop_box, whole_image_face,
)
from tests.conftest import EXAMPLES


def test_face_free_image_gives_no_boxes(yunet_file):
    detector = FaceDetector.load(yunet_file)
    gradient = np.tile(np.linspace(0, 255, 640, dtype=np.uint8)[None, :, None], (480, 1, 3))
    assert detector.detect(gradient) == []
    assert detector.detect(np.asarray(Image.open(EXAMPLES / "cat_no_face.jpg").convert("RGB"))) == []


def test_faces_pasted_on_a_canvas_are_found_where_they_are(yunet_file):
    face = Image.open(EXAMPLES / "astronaut_no_mask.jpg").convert("RGB").resize((256, 256))
    canvas = Image.new("RGB", (1400, 700), (90, 110, 90))
    positions = [(80, 60), (700, 380)]
    for position in positions:
        canvas.paste(face, position)
    found = FaceDetector.load(yunet_file).detect(np.asarray(canvas))
    assert len(found) == 2
    for face_box in found:
        centre = ((face_box.box[0] + face_box.box[2]) / 2, (face_box.box[1] + face_box.box[3]) / 2)
        assert any(x <= centre[0] <= x + 256 and y <= centre[1] <= y + 256 for x, y in positions)
        assert face_box.score >= faces.SURE_SCORE


def test_huge_image_boxes_map_back_to_full_resolution(yunet_file):
    face = Image.open(EXAMPLES / "astronaut_no_mask.jpg").convert("RGB")
    canvas = Image.new("RGB", (3000, 2000), (200, 200, 200))
    canvas.paste(face, (2000, 1200))
    (found,) = FaceDetector.load(yunet_file).detect(np.asarray(canvas))
    assert 2000 <= found.box[0] < found.box[2] <= 2512 and 1200 <= found.box[1] < found.box[3] <= 1712


def test_square_crop_box_is_enlarged_and_clipped():
    assert square_crop_box((40, 40, 60, 80), 200, 200) == (20, 30, 80, 90)
    assert square_crop_box((0, 0, 50, 50), 60, 60) == (0, 0, 60, 60)
    assert whole_image_face(np.zeros((10, 20, 3))).box == (0, 0, 20, 10)


def test_explicit_path_env_and_cache_resolution(yunet_file, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(faces.YUNET_ENV, raising=False)
    assert resolve_detector_file(yunet_file) == yunet_file
    monkeypatch.setenv(faces.YUNET_ENV, str(yunet_file))
    assert resolve_detector_file() == yunet_file
    monkeypatch.setenv(faces.YUNET_ENV, str(tmp_path / "missing.onnx"))
    with pytest.raises(DetectorUnavailableError, match="not found"):
        resolve_detector_file()


def test_download_is_verified_before_use(yunet_file, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv(faces.YUNET_ENV, raising=False)
    cached = tmp_path / "cache" / "maskdet" / faces.YUNET_FILE

    def tampered(url, filename):
        open(filename, "wb").write(b"not the model")

    monkeypatch.setattr(urllib.request, "urlretrieve", tampered)
    with pytest.raises(DetectorUnavailableError, match="SHA-256"):
        resolve_detector_file()
    assert list(cached.parent.iterdir()) == []  # nothing half-written is left behind

    def offline(url, filename):
        raise OSError("network unreachable")

    monkeypatch.setattr(urllib.request, "urlretrieve", offline)
    with pytest.raises(DetectorUnavailableError, match="MASKDET_YUNET_PATH"):
        resolve_detector_file()

    def genuine(url, filename):
        open(filename, "wb").write(yunet_file.read_bytes())

    monkeypatch.setattr(urllib.request, "urlretrieve", genuine)
    assert resolve_detector_file() == cached and cached.read_bytes() == yunet_file.read_bytes()


def test_tampered_local_file_is_refused(yunet_file, tmp_path):
    bad = tmp_path / "yunet.onnx"
    bad.write_bytes(yunet_file.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(DetectorUnavailableError, match="yunet.onnx.*SHA-256"):
        FaceDetector.load(bad)


def test_landmarks_sit_in_the_face_box_in_anatomical_order(yunet_file):
    photo = np.asarray(Image.open(EXAMPLES / "astronaut_no_mask.jpg").convert("RGB"))
    (face,) = FaceDetector.load(yunet_file).detect(photo)
    assert len(face.landmarks) == len(faces.LANDMARK_NAMES)
    x1, y1, x2, y2 = face.box
    for x, y in face.landmarks:
        assert x1 <= x <= x2 and y1 <= y <= y2
    eyes_y = (face.landmark("right_eye")[1] + face.landmark("left_eye")[1]) / 2
    mouth_y = (face.landmark("right_mouth_corner")[1] + face.landmark("left_mouth_corner")[1]) / 2
    assert eyes_y < face.landmark("nose_tip")[1] < mouth_y
    assert face.landmark("right_eye")[0] < face.landmark("left_eye")[0]  # person's right = image left
    assert whole_image_face(photo).landmarks == () and whole_image_face(photo).landmark("nose_tip") is None


def test_weak_detections_need_confirmation(yunet_file):
    """The cat example has YuNet detections at the default floor; none survives the re-detection."""
    detector = FaceDetector.load(yunet_file)
    cat = np.asarray(Image.open(EXAMPLES / "cat_no_face.jpg").convert("RGB"))
    weak = detector.detect_raw(cat, faces.DEFAULT_THRESHOLD)
    assert weak and all(face.score < faces.SURE_SCORE for face in weak)
    assert not any(detector.confirmed(cat, face) for face in weak)
    assert detector.detect(cat) == []
    photo = np.asarray(Image.open(EXAMPLES / "astronaut_mask.jpg").convert("RGB"))
    (face,) = detector.detect(photo)
    assert detector.confirm_score(photo, face) >= faces.CONFIRM_SCORE  # a real face is found again


def test_faint_detections_must_be_found_again_more_surely(yunet_file, monkeypatch):
    assert faces.DEFAULT_THRESHOLD < faces.FAINT_SCORE < faces.SURE_SCORE
    assert faces.needed_confirm_score(faces.FAINT_SCORE) == faces.CONFIRM_SCORE
    assert faces.needed_confirm_score(faces.FAINT_SCORE - 0.01) == faces.FAINT_CONFIRM_SCORE > faces.CONFIRM_SCORE
    detector, image = FaceDetector.load(yunet_file), np.zeros((100, 100, 3), np.uint8)
    between = (faces.CONFIRM_SCORE + faces.FAINT_CONFIRM_SCORE) / 2
    monkeypatch.setattr(detector, "confirm_score", lambda img, f, mirrored=False: between)
    assert detector.confirmed(image, _face((10, 10, 40, 40), faces.FAINT_SCORE + 0.05))
    assert not detector.confirmed(image, _face((10, 10, 40, 40), faces.FAINT_SCORE - 0.05))


def test_close_up_match_is_centred_and_about_the_face_size():
    half = faces.CONFIRM_SIZE / 2  # the face is half the close-up's side
    centred = (half / 2, half / 2, half * 1.5, half * 1.5)
    assert faces.centred_in_close_up(centred)
    assert not faces.centred_in_close_up((0, 0, half, half))  # off centre
    assert not faces.centred_in_close_up((half - 5, half - 5, half + 5, half + 5))  # far too small


def test_small_images_are_searched_at_twice_their_size(yunet_file):
    assert faces.detection_scale(480, 640) == 2.0 and faces.detection_scale(600, 800) == 1.0
    assert faces.detection_scale(2000, 3000) == pytest.approx(960 / 3000)
    photo = Image.open(EXAMPLES / "astronaut_mask.jpg").convert("RGB").resize((80, 80))
    canvas = Image.new("RGB", (400, 300), (120, 130, 120))
    canvas.paste(photo, (150, 100))  # a masked face of about 15 px
    image = np.asarray(canvas)
    detector = FaceDetector.load(yunet_file)
    assert detector.detect_raw(image, faces.DEFAULT_THRESHOLD, scale=1.0) == []  # missed at its own size
    (found,) = detector.detect(image)
    assert 150 <= found.box[0] < found.box[2] <= 230 and found.box[2] - found.box[0] < 24


def test_confirmation_crop_pads_outside_the_image():
    image = np.full((100, 100, 3), 255, np.uint8)
    square = faces.confirmation_crop(image, (0, 0, 20, 20))
    assert square.shape == (faces.CONFIRM_SIZE, faces.CONFIRM_SIZE, 3)
    assert square[0, 0].tolist() == [127, 127, 127] and square[-1, -1].tolist() == [255, 255, 255]


def _face(box, score, landmarks=()):
    width, height = 640, 480
    return faces.Face(box=box, crop_box=square_crop_box(box, width, height), score=score, landmarks=landmarks)


def test_faces_found_on_the_mirrored_image_map_back_with_landmarks_in_order():
    found = faces.Face(box=(20, 30, 60, 80), crop_box=(10, 25, 70, 85), score=0.8,
                       landmarks=((30, 45), (50, 45), (40, 58), (32, 70), (48, 70)))
    (back,) = faces.mirror_faces([found], 200)
    assert back.box == (140, 30, 180, 80) and back.crop_box == (130, 25, 190, 85) and back.score == 0.8
    # the person's right eye (the image's left) is still the first landmark, the mouth corners likewise
    assert back.landmarks == ((150, 45), (170, 45), (160, 58), (152, 70), (168, 70))
    assert faces.mirror_faces([back], 200) == [found]


def test_merge_keeps_one_face_per_person_with_its_own_landmarks():
    points = ((110, 120), (135, 120), (122, 135), (112, 148), (133, 148))
    strong = _face((100, 100, 150, 160), 0.9, points)
    again = _face((104, 98, 152, 158), 0.6, tuple((x + 3, y) for x, y in points))  # the other search's box
    shifted = _face((112, 108, 160, 170), 0.5)  # overlaps little, but its centre lies in the strong box
    other = _face((300, 100, 340, 150), 0.7, points)
    assert faces.merge_faces([again, other, shifted, strong]) == [strong, other]
    assert faces.merge_faces([]) == []
    small_near = _face((140, 150, 150, 160), 0.8)  # a face a fifth the size at the edge: another person
    assert faces.merge_faces([strong, small_near]) == [strong, small_near]


def _two_faces_canvas() -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """A 640x480 photo with a large masked face and a small unmasked one (x, y, side of each paste)."""
    canvas = Image.new("RGB", (640, 480), (120, 130, 120))
    pasted = [(40, 60, 260), (420, 300, 60)]
    for (x, y, side), name in zip(pasted, ("astronaut_mask.jpg", "astronaut_no_mask.jpg")):
        canvas.paste(Image.open(EXAMPLES / name).convert("RGB").resize((side, side)), (x, y))
    return np.asarray(canvas), pasted


def spy(monkeypatch, obj, name: str, note) -> list:
    """Record `note(*args, **kwargs)` of every call to obj.name, which still runs; returns the list."""
    seen, original = [], getattr(obj, name)

    def recorded(*args, **kwargs):
        seen.append(note(*args, **kwargs))
        return original(*args, **kwargs)

    monkeypatch.setattr(obj, name, recorded)
    return seen


def test_photos_are_searched_at_two_scales_and_merged_live_frames_once(yunet_file, monkeypatch):
    detector, (image, pasted) = FaceDetector.load(yunet_file), _two_faces_canvas()
    scales = spy(monkeypatch, detector, "detect_raw", lambda img, thr, scale=None: scale)
    found = detector.detect(image)
    assert scales == [2.0, 1.0]  # a small photo: enlarged, and at its own size
    assert len(found) == 2  # each face once, although both searches found both
    for x, y, side in pasted:
        (face,) = [f for f in found if x <= (f.box[0] + f.box[2]) / 2 <= x + side]
        assert len(face.landmarks) == 5 and all(x <= px <= x + side for px, _ in face.landmarks)
    assert [f.score for f in found] == sorted((f.score for f in found), reverse=True)
    scales.clear()
    detector.detect(image, scale=faces.stream_scale(480, 640, 960))  # a live or video frame: one search
    assert scales == [1.0]
    scales.clear()
    detector.detect(np.zeros((600, 800, 3), np.uint8))  # a larger photo is not enlarged: one search
    assert scales == [1.0]


def test_weak_detections_may_be_confirmed_by_the_mirrored_recrop(yunet_file, monkeypatch):
    detector = FaceDetector.load(yunet_file)
    image, face = np.zeros((100, 100, 3), np.uint8), _face((10, 10, 40, 40), 0.5)
    looks = []

    def scores(plain, mirrored):
        def confirm_score(img, f, mirrored_crop=False):
            looks.append(mirrored_crop)
            return mirrored if mirrored_crop else plain
        monkeypatch.setattr(detector, "confirm_score", lambda img, f, mirrored=False: confirm_score(img, f, mirrored))

    scores(0.2, 0.65)
    assert detector.confirmed(image, face) and looks == [False, True]
    looks.clear()
    scores(0.7, 0.0)
    assert detector.confirmed(image, face) and looks == [False]  # the mirrored look only when needed
    scores(0.3, 0.5)
    assert not detector.confirmed(image, face)
    scores(0.2, 0.65)
    looks.clear()
    assert not detector.confirmed(image, face, mirrored_too=False) and looks == [False]  # the cheap path


def test_live_frames_keep_the_cheap_rule_photos_the_mirrored_look(yunet_file, monkeypatch):
    detector, (image, _) = FaceDetector.load(yunet_file), _two_faces_canvas()
    calls = spy(monkeypatch, detector, "confirmed", lambda img, f, mirrored_too=True: mirrored_too)
    monkeypatch.setattr(faces, "SURE_SCORE", 1.01)  # every detection is weak: each one is re-checked
    detector.detect(image, scale=1.0)
    assert calls and not any(calls)
    calls.clear()
    detector.detect(image)
    assert calls and all(calls)


def test_mirrored_recrop_scores_the_mirrored_face(yunet_file):
    detector = FaceDetector.load(yunet_file)
    photo = np.asarray(Image.open(EXAMPLES / "astronaut_mask.jpg").convert("RGB"))
    (face,) = detector.detect(photo)
    assert detector.confirm_score(photo, face, mirrored=True) >= faces.CONFIRM_SCORE
    flipped = np.ascontiguousarray(photo[:, ::-1])
    (flipped_face,) = faces.mirror_faces([face], photo.shape[1])
    assert detector.confirm_score(flipped, flipped_face, mirrored=True) == pytest.approx(
        detector.confirm_score(photo, face), abs=0.02)


def test_no_faces_on_face_free_textures_either_path(yunet_file):
    from maskdet.evaluation.detector_scenes import textures

    detector = FaceDetector.load(yunet_file)
    for label, image in textures(10):
        assert detector.detect(image) == [], label
        assert detector.detect(image, scale=1.0) == [], label


def test_one_search_boxes_no_face_twice(yunet_file, monkeypatch):
    """YuNet's own suppression can keep a weak box shifted onto a face's hair; the single search of
    live frames and large photos merges like the two searches of small photos do."""
    detector = FaceDetector.load(yunet_file)
    face, piece = _face((130, 684, 145, 703), 0.83), _face((138, 680, 150, 696), 0.32)
    monkeypatch.setattr(detector, "detect_raw", lambda image, threshold, scale=None: [face, piece])
    monkeypatch.setattr(detector, "confirmed", lambda image, f, mirrored_too=True: True)
    image = np.zeros((768, 960, 3), np.uint8)  # larger than 640 px: one search
    assert detector.detect(image) == [face]
    assert detector.detect(image, scale=1.0) == [face]
