import zipfile

import keras
import numpy as np
import pytest

from maskdet.config import CLASS_NAMES, LAST_CONV_LAYER, LOGITS_LAYER
from maskdet.core.model import (
    ModelFileError, WeightsUnavailableError, build_model, load_model, model_info, save_model,
    set_temperature, transfer_weights,
)
from tests.conftest import TINY_SIZE, TINY_WIDTH


def test_label_order_is_explicit():
    assert CLASS_NAMES == ("no_mask", "mask", "worn_wrong")


def test_graph_is_flat_with_reachable_conv_and_logits(tiny_model):
    assert not any(isinstance(layer, keras.Model) for layer in tiny_model.layers)
    assert tiny_model.get_layer(LAST_CONV_LAYER).filters == round(512 * TINY_WIDTH)
    assert tiny_model.get_layer(LOGITS_LAYER).units == 3
    probs = tiny_model.predict(np.zeros((1, TINY_SIZE, TINY_SIZE, 3)), verbose=0)
    assert probs.shape == (1, 3) and np.isclose(probs.sum(), 1.0)
    assert model_info(tiny_model).class_names == CLASS_NAMES


def test_a_two_class_model_starts_a_three_class_one_where_it_left_off():
    old = build_model(TINY_SIZE, TINY_WIDTH, class_names=CLASS_NAMES[:2])
    new = build_model(TINY_SIZE, TINY_WIDTH)
    transfer_weights(old, new)
    images = np.random.default_rng(1).uniform(0, 255, (4, TINY_SIZE, TINY_SIZE, 3)).astype("float32")
    before, after = old.predict(images, verbose=0), new.predict(images, verbose=0)
    assert model_info(old).class_names == ("no_mask", "mask")
    assert np.array_equal(before.argmax(axis=1), after[:, :2].argmax(axis=1))  # same ranking of the old classes
    assert (after[:, 2] < after[:, :2].max(axis=1)).all()  # the new class starts rarely picked
    with pytest.raises(ValueError):
        transfer_weights(new, build_model(TINY_SIZE, TINY_WIDTH, class_names=CLASS_NAMES[:2]))


def test_preprocessing_matches_keras_vgg16(tiny_model):
    images = np.random.default_rng(0).uniform(0, 255, (2, TINY_SIZE, TINY_SIZE, 3)).astype("float32")
    inner = keras.Model(tiny_model.input, tiny_model.get_layer("vgg16_preprocess").output)
    expected = keras.applications.vgg16.preprocess_input(images.copy())
    np.testing.assert_allclose(inner.predict(images, verbose=0), expected, atol=1e-4)


def test_save_load_round_trip_keeps_config_and_outputs(tmp_path):
    model = build_model(TINY_SIZE, TINY_WIDTH)
    set_temperature(model, 1.7)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(np.zeros((2, TINY_SIZE, TINY_SIZE, 3)), np.array([0, 1]), verbose=0)
    path = save_model(model, tmp_path / "m.keras")
    loaded = load_model(path)
    info = model_info(loaded)
    assert (info.input_size, info.width, info.class_names) == (TINY_SIZE, TINY_WIDTH, CLASS_NAMES)
    assert info.temperature == pytest.approx(1.7) and info.weights_origin == "none"
    images = np.random.default_rng(1).uniform(0, 255, (3, TINY_SIZE, TINY_SIZE, 3))
    np.testing.assert_allclose(loaded.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-6)
    with zipfile.ZipFile(path) as archive:
        assert not any("optimizer" in name for name in archive.namelist())


def test_local_weights_file_is_loaded(tmp_path):
    reference = keras.applications.VGG16(include_top=False, weights=None, input_shape=(TINY_SIZE, TINY_SIZE, 3))
    weights_file = tmp_path / "vgg16_notop.weights.h5"
    reference.save_weights(weights_file)
    model = build_model(TINY_SIZE, 1.0, weights=weights_file)
    np.testing.assert_array_equal(
        model.get_layer("block4_conv2").get_weights()[0], reference.get_layer("block4_conv2").get_weights()[0]
    )
    assert model_info(model).weights_origin == "file:vgg16_notop.weights.h5"
    assert not any(isinstance(layer, keras.Model) for layer in model.layers)


def test_imagenet_download_failure_names_both_alternatives(monkeypatch):
    def offline(*args, **kwargs):
        raise Exception("URL fetch failure: no network")

    monkeypatch.setattr(keras.utils, "get_file", offline)
    monkeypatch.setattr("keras.src.applications.vgg16.file_utils.get_file", offline)
    with pytest.raises(WeightsUnavailableError, match="--weights PATH.*--weights none"):
        build_model(TINY_SIZE, 1.0, weights="imagenet")


def test_missing_weights_file_and_pretrained_narrow_width_are_refused(tmp_path):
    with pytest.raises(WeightsUnavailableError, match="not found"):
        build_model(TINY_SIZE, 1.0, weights=tmp_path / "nope.h5")
    with pytest.raises(ValueError, match="width 1.0"):
        build_model(TINY_SIZE, 0.5, weights="imagenet")


def test_bad_model_files_give_clear_errors(tmp_path, tiny_model_file):
    with pytest.raises(ModelFileError, match="not found"):
        load_model(tmp_path / "missing.keras")
    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes(tiny_model_file.read_bytes()[:2000])
    with pytest.raises(ModelFileError, match="truncated.keras"):
        load_model(truncated)
    foreign = tmp_path / "foreign.keras"
    keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]).save(foreign)
    with pytest.raises(ModelFileError, match="not a maskdet model"):
        load_model(foreign)


def test_batch_norm_variant_keeps_names_and_round_trips(tmp_path):
    model = build_model(TINY_SIZE, TINY_WIDTH, batch_norm=True)
    assert isinstance(model.get_layer(LAST_CONV_LAYER), keras.layers.ReLU)
    assert model.get_layer("block5_conv3_bn") is not None
    loaded = load_model(save_model(model, tmp_path / "bn.keras"))
    info = model_info(loaded)
    assert info.batch_norm and info.width == TINY_WIDTH
    with pytest.raises(ValueError, match="without batch norm"):
        build_model(TINY_SIZE, 1.0, weights="imagenet", batch_norm=True)


def trained_looking_bn_model(seed: int = 4) -> keras.Model:
    """A tiny VGG16-BN whose batch norms hold real-looking statistics, not a fresh layer's identity."""
    model = build_model(TINY_SIZE, TINY_WIDTH, batch_norm=True)
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            size = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 2, size), rng.normal(0, 1, size),
                               rng.normal(0, 5, size), rng.uniform(0.5, 20, size)])
    set_temperature(model, 1.3)
    return model


def test_folding_batch_norm_keeps_outputs_and_feature_maps():
    from maskdet.core.model import inference_copy

    model = trained_looking_bn_model()
    rng = np.random.default_rng(5)
    folded = inference_copy(model)
    assert not model_info(folded).batch_norm and model_info(folded).temperature == pytest.approx(1.3)
    images = rng.uniform(0, 255, (3, TINY_SIZE, TINY_SIZE, 3)).astype("float32")
    np.testing.assert_allclose(folded.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-5)
    conv = [keras.Model(m.input, m.get_layer(LAST_CONV_LAYER).output) for m in (model, folded)]
    np.testing.assert_allclose(conv[1].predict(images, verbose=0), conv[0].predict(images, verbose=0),
                               rtol=1e-3, atol=1e-3)
    plain = build_model(TINY_SIZE, TINY_WIDTH)
    assert inference_copy(plain) is plain


@pytest.mark.parametrize("batch_norm", [False, True])
def test_bfloat16_copy_keeps_labels_and_computes_the_base_in_bfloat16(batch_norm):
    from maskdet.core.model import inference_copy

    keras.utils.set_random_seed(6)  # a random net's logits vary by seed; bfloat16 error grows with them
    model = trained_looking_bn_model() if batch_norm else build_model(TINY_SIZE, TINY_WIDTH)
    copy = inference_copy(model, "bfloat16")
    assert copy is not model and keras.config.dtype_policy().name == "float32"  # global policy restored
    assert copy.get_layer("block1_conv1").compute_dtype == "bfloat16"
    assert copy.get_layer(LAST_CONV_LAYER).compute_dtype == "bfloat16"
    for name in ("vgg16_preprocess", "fc", "logits", "probs"):
        assert copy.get_layer(name).compute_dtype == "float32"
    assert model_info(copy).temperature == model_info(model).temperature
    images = np.random.default_rng(6).uniform(0, 255, (8, TINY_SIZE, TINY_SIZE, 3)).astype("float32")
    expected, got = model.predict(images, verbose=0), copy.predict(images, verbose=0)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=0.03)
    confident = np.abs(expected[:, 0] - expected[:, 1]) > 0.1
    assert (got.argmax(1) == expected.argmax(1))[confident].all()
