"""Similarity maps on constructed towers with known answers."""

import keras
import keras_hub
import numpy as np
import pytest

from keras_clinclip.evaluation import pointing
from keras_clinclip.evaluation import similarity_maps
from keras_clinclip.models import ClinCLIPBackbone
from keras_clinclip.models import encode_texts
from keras_clinclip.models import small_resnet_image_encoder
from keras_clinclip.models import tiny_clinclip_text_encoder


def text_tower():
    return tiny_clinclip_text_encoder()


def planted_backbone():
    """A tower that averages 4x4 pixel blocks; an identity projection."""
    images = keras.Input(shape=(32, 32, 3))
    features = keras.layers.AveragePooling2D(4)(images)  # (8, 8, 3)
    encoder = keras.Model(images, features)
    model = ClinCLIPBackbone(encoder, text_tower(), embedding_dim=3)
    model.image_projection.output_dense.kernel.assign(np.eye(3, dtype="f"))
    return model


def planted_image(row, col):
    image = np.zeros((32, 32, 3), "float32")
    image[..., 0] = 1.0  # background: along the first axis
    image[4 * row : 4 * row + 4, 4 * col : 4 * col + 4, 1] = 5.0
    return image


def test_map_peaks_where_the_planted_feature_is():
    model = planted_backbone()
    images = np.stack([planted_image(5, 2), planted_image(1, 6)])
    out = similarity_maps.localization_maps(
        model, None, images, np.array([0.0, 1.0, 0.0])
    )
    sim = out["similarity"]
    assert sim.shape == (2, 8, 8)
    assert np.unravel_index(sim[0].argmax(), (8, 8)) == (5, 2)
    assert np.unravel_index(sim[1].argmax(), (8, 8)) == (1, 6)
    # Background cells are orthogonal to the text; the planted cell is
    # (1, 5, 0) / |.|, cosine 5 / sqrt(26).
    assert sim[0, 0, 0] == pytest.approx(0.0, abs=1e-6)
    assert sim[0, 5, 2] == pytest.approx(5 / np.sqrt(26), rel=1e-5)
    regions = np.zeros((2, 32, 32), bool)
    regions[0, 20:24, 8:12] = True
    regions[1, 4:8, 24:28] = True
    assert pointing.pointing_game(out["maps"], regions).all()
    mass = pointing.mass_inside(out["maps"], regions)
    assert (mass > 4 * regions.mean(axis=(1, 2))).all()
    # The wrong region misses.
    assert not pointing.pointing_game(out["maps"], regions[::-1]).any()


def test_text_strings_go_through_the_preprocessor():
    model = planted_backbone()

    class Prep:
        def convert_images(self, images):
            return np.asarray(images, "float32")

        def tokenize(self, texts):
            ids = np.ones((len(texts), 4), "int32")
            return {"token_ids": ids, "padding_mask": ids}

    text = np.asarray(
        encode_texts(model, np.ones((1, 4), "int32"), np.ones((1, 4), "int32"))
    )[0]
    images = np.stack([planted_image(3, 3)])
    by_string = similarity_maps.localization_maps(model, Prep(), images, "x")
    by_vector = similarity_maps.localization_maps(model, None, images, text)
    np.testing.assert_allclose(
        by_string["similarity"], by_vector["similarity"], atol=1e-5
    )


def test_cnn_local_features_average_to_the_image_embedding():
    # Average pooling + a linear head: mean of P(f_ij) = P(mean f_ij).
    encoder = small_resnet_image_encoder(
        image_size=32, filters=(64,), blocks=(1,)
    )
    model = ClinCLIPBackbone(encoder, text_tower(), embedding_dim=6)
    images = np.random.default_rng(0).random((2, 32, 32, 3)).astype("f")
    local = similarity_maps.local_features_model(model).predict_on_batch(images)
    local = keras.ops.convert_to_numpy(local)
    assert local.shape == (2, 8, 8, 6)
    pooled = keras.ops.convert_to_numpy(model.embed_images(images))
    np.testing.assert_allclose(local.mean(axis=(1, 2)), pooled, atol=1e-4)


def test_vit_drops_the_class_token_and_keeps_patch_order():
    vit = keras_hub.models.ViTBackbone(
        image_shape=(32, 32, 3),
        patch_size=8,
        num_layers=1,
        num_heads=2,
        hidden_dim=8,
        mlp_dim=16,
    )
    model = ClinCLIPBackbone(vit, text_tower(), embedding_dim=4)
    images = np.random.default_rng(1).random((2, 32, 32, 3)).astype("f")
    local = similarity_maps.local_features_model(model).predict_on_batch(images)
    local = keras.ops.convert_to_numpy(local)
    assert local.shape == (2, 4, 4, 4)
    tokens = keras.ops.convert_to_numpy(vit(images))  # (2, 17, 8)
    expected = keras.ops.convert_to_numpy(
        model.image_projection(tokens[:, 1:, :])
    ).reshape(2, 4, 4, 4)
    np.testing.assert_allclose(local, expected, atol=1e-4)
    out = similarity_maps.localization_maps(model, None, images, np.ones(4))
    assert out["maps"].shape == (2, 32, 32)


def test_pooled_tower_is_refused_with_a_clear_error():
    images = keras.Input(shape=(32, 32, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(images)
    model = ClinCLIPBackbone(
        keras.Model(images, pooled), text_tower(), embedding_dim=3
    )
    with pytest.raises(ValueError, match="needs a spatial image tower"):
        similarity_maps.local_features_model(model)


def test_upsample_matches_keras_bilinear_resize():
    maps = np.random.default_rng(2).random((2, 4, 5))
    ours = similarity_maps.upsample_map(maps, (12, 15))
    theirs = keras.ops.image.resize(
        maps[..., None].astype("float32"),
        (12, 15),
        interpolation="bilinear",
        antialias=False,
    )
    np.testing.assert_allclose(
        ours, keras.ops.convert_to_numpy(theirs)[..., 0], atol=1e-5
    )
