import numpy as np
import pytest

from maskdet.render import drawing
from maskdet.render.drawing import (
    VERDICT_COLOURS, Label, caption_box, draw_labels, heat_rgba, layout_captions, overlay_heatmap, paint_heatmaps,
    text_size,
)


def grey(height: int = 480, width: int = 640) -> np.ndarray:
    return np.full((height, width, 3), 100, np.uint8)


def overlaps(a, b) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def test_caption_size_scales_with_the_image():
    assert text_size((480, 640)) == round(640 / 30)
    assert text_size((3000, 4000)) == round(4000 / 30)
    assert text_size((40, 30)) == drawing.MIN_TEXT_PX


def test_captions_sit_below_their_boxes_and_never_overlap():
    boxes = [(50, 50, 150, 170), (300, 60, 400, 180), (60, 260, 160, 380)]
    texts = ["1 mask 97%", "2 no mask 88%", "3 unsure"]
    placed = layout_captions((480, 640, 3), boxes, texts)
    assert placed is not None
    for (x, y, w, h), box in zip(placed, boxes):
        assert y == box[3] and x == box[0]  # right below the box
        assert 0 <= x and x + w <= 640 and y + h <= 480
    assert not any(overlaps(a, b) for i, a in enumerate(placed) for b in placed[i + 1:])


def test_caption_at_the_bottom_edge_goes_inside_or_above_the_box():
    (rect,) = layout_captions((480, 640, 3), [(100, 300, 200, 480)], ["mask 97%"])
    x, y, w, h = rect
    assert y + h <= 480 and y < 480 - h + 1


def test_crowded_faces_get_numbers_only():
    boxes = [(20 + 40 * i, 100, 55 + 40 * i, 140) for i in range(12)]  # 12 faces shoulder to shoulder
    texts = [f"{i} no mask 99%" for i in range(1, 13)]
    assert layout_captions((480, 640, 3), boxes, texts) is None
    labels = [Label(box, VERDICT_COLOURS["no_mask"], "no mask 99%", i) for i, box in enumerate(boxes, start=1)]
    drawn = draw_labels(grey(), labels)
    assert drawn.shape == (480, 640, 3) and not np.array_equal(drawn, grey())
    tags, sizes = drawing.number_tags((480, 640, 3), labels)
    assert all(box[0] <= x and box[1] <= y for (x, y, _, _), box in zip(tags, boxes))
    assert all(size <= (box[3] - box[1]) // 2 or size == drawing.MIN_TEXT_PX for size, box in zip(sizes, boxes))


def test_boxes_are_drawn_in_their_verdict_colour():
    labels = [Label((100, 100, 200, 200), VERDICT_COLOURS["unsure"], "unsure", 1),
              Label((300, 100, 400, 200), VERDICT_COLOURS["mask"], "mask 97%", 2)]
    drawn = draw_labels(np.zeros((480, 640, 3), np.uint8), labels)
    assert tuple(drawn[150, 100]) == VERDICT_COLOURS["unsure"] == (108, 108, 108)  # grey at 4.5:1 under white text
    assert tuple(drawn[150, 300]) == VERDICT_COLOURS["mask"]
    assert tuple(drawn[150, 150]) == (0, 0, 0)  # the face itself is left alone


def test_only_the_hot_part_is_coloured():
    heat = np.linspace(0, 1, 101, dtype=np.float32)[None, :]
    _, alpha = heat_rgba(heat, 0.8)
    assert (alpha[0, heat[0] <= drawing.HEAT_FLOOR] == 0).all()
    assert alpha[0, -1] == pytest.approx(0.8)
    assert (np.diff(alpha[0]) >= 0).all()


def test_colour_map_is_perceptually_ordered():
    """Brightness rises steadily with heat (inferno), unlike JET's bright middle."""
    colours, _ = heat_rgba(np.linspace(0, 1, 64, dtype=np.float32)[None, :], 1.0)
    luma = colours[0] @ np.array([0.299, 0.587, 0.114])
    assert (np.diff(luma) > -1.0).all() and luma[-1] > luma[0] + 150


def test_overlay_keeps_cold_pixels_and_opacity_changes_the_hot_ones():
    crop = grey(64, 64)
    heatmap = np.zeros((8, 8), np.float32)
    heatmap[2:4, 2:4] = 1.0
    light, strong = overlay_heatmap(crop, heatmap, 0.2), overlay_heatmap(crop, heatmap, 0.9)
    assert np.array_equal(light[60:, 60:], crop[60:, 60:])  # far from the hot spot: untouched
    assert not np.array_equal(light[20:28, 20:28], strong[20:28, 20:28])
    assert overlay_heatmap(grey(20, 30), heatmap, 0.5, min_side=96).shape == (96, 144, 3)


def test_heatmaps_fill_their_own_regions_on_the_photo():
    photo = grey()
    hot = np.ones((4, 4), np.float32)
    painted = paint_heatmaps(photo, [(10, 10, 110, 110), (300, 300, 340, 350)], [hot, hot * 0.9], 0.7)
    assert not np.array_equal(painted[50, 50], photo[50, 50])
    assert not np.array_equal(painted[320, 320], photo[320, 320])
    assert np.array_equal(painted[200, 200], photo[200, 200])  # outside every face region


def test_caption_box_grows_with_text():
    assert caption_box("mask 97%", 20)[0] < caption_box("1 no mask 97%", 20)[0]
    assert caption_box("mask", 40)[1] > caption_box("mask", 20)[1]


def test_every_verdict_caption_reads_at_wcag_aa_contrast():
    from maskdet.render.drawing import VERDICT_COLOURS, caption_text_colour, contrast_ratio

    assert set(VERDICT_COLOURS) >= {"mask", "worn_wrong", "no_mask", "unsure", "too_small"}
    for verdict, colour in VERDICT_COLOURS.items():
        assert contrast_ratio(caption_text_colour(colour), colour) >= 4.5, verdict


def test_worn_wrong_face_is_drawn_amber_with_dark_caption():
    from maskdet.core.prediction import FaceResult, Prediction
    from maskdet.render.drawing import VERDICT_COLOURS

    image = np.full((200, 200, 3), 255, np.uint8)
    face = FaceResult((50, 40, 150, 140), (30, 20, 170, 160), "worn_wrong", 0.05, 0.9,
                      image[20:160, 30:170], prob_worn_wrong=0.9)
    assert face.verdict == "worn_wrong" and face.caption() == "worn wrong 90%"
    drawn = Prediction(image, [face], False, 1, [], {}).annotated()
    assert tuple(drawn[40, 100]) == VERDICT_COLOURS["worn_wrong"]  # the box's top edge
    caption = drawn[141:170, 50:150].reshape(-1, 3)
    assert (caption.sum(axis=1) < 60).any()  # dark text on the amber caption
