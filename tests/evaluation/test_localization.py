"""Localisation maps on constructed towers with known answers."""

import keras
import keras_hub
import numpy as np
import pytest

from keras_clinclip.evaluation import localization
from keras_clinclip.models import ClinCLIPBackbone
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
    out = localization.localization_maps(
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
    assert localization.pointing_game(out["maps"], regions).all()
    mass = localization.mass_inside(out["maps"], regions)
    assert (mass > 4 * regions.mean(axis=(1, 2))).all()
    # The wrong region misses.
    assert not localization.pointing_game(out["maps"], regions[::-1]).any()


def test_text_strings_go_through_the_preprocessor():
    model = planted_backbone()

    class Prep:
        def convert_images(self, images):
            return np.asarray(images, "float32")

        def tokenize(self, texts):
            ids = np.ones((len(texts), 4), "int32")
            return {"token_ids": ids, "padding_mask": ids}

    text = np.asarray(
        model.encode_texts(np.ones((1, 4), "int32"), np.ones((1, 4), "int32"))
    )[0]
    images = np.stack([planted_image(3, 3)])
    by_string = localization.localization_maps(model, Prep(), images, "x")
    by_vector = localization.localization_maps(model, None, images, text)
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
    local = localization.local_features_model(model).predict_on_batch(images)
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
    local = localization.local_features_model(model).predict_on_batch(images)
    local = keras.ops.convert_to_numpy(local)
    assert local.shape == (2, 4, 4, 4)
    tokens = keras.ops.convert_to_numpy(vit(images))  # (2, 17, 8)
    expected = keras.ops.convert_to_numpy(
        model.image_projection(tokens[:, 1:, :])
    ).reshape(2, 4, 4, 4)
    np.testing.assert_allclose(local, expected, atol=1e-4)
    out = localization.localization_maps(model, None, images, np.ones(4))
    assert out["maps"].shape == (2, 32, 32)


def test_pooled_tower_is_refused_with_a_clear_error():
    images = keras.Input(shape=(32, 32, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(images)
    model = ClinCLIPBackbone(
        keras.Model(images, pooled), text_tower(), embedding_dim=3
    )
    with pytest.raises(ValueError, match="needs a spatial image tower"):
        localization.local_features_model(model)


def test_upsample_matches_keras_bilinear_resize():
    maps = np.random.default_rng(2).random((2, 4, 5))
    ours = localization.upsample_map(maps, (12, 15))
    theirs = keras.ops.image.resize(
        maps[..., None].astype("float32"),
        (12, 15),
        interpolation="bilinear",
        antialias=False,
    )
    np.testing.assert_allclose(
        ours, keras.ops.convert_to_numpy(theirs)[..., 0], atol=1e-5
    )


@pytest.mark.backend_independent
def test_pointing_game_ties_and_tolerance():
    m = np.zeros((5, 5))
    region = np.zeros((5, 5), bool)
    region[2, 2] = True
    # Flat map: every position ties, not all inside -> miss.
    assert not localization.pointing_game(m, region)[0]
    m[0, 0] = 1.0
    assert not localization.pointing_game(m, region, tolerance=1)[0]
    assert localization.pointing_game(m, region, tolerance=2)[0]


@pytest.mark.backend_independent
def test_mass_inside_hand_computed_and_constant_map():
    m = np.array([[-1.0, 1.0], [0.0, 3.0]])  # shifted: 0, 2, 1, 4
    region = np.array([[False, True], [False, True]])
    assert localization.mass_inside(m, region)[0] == pytest.approx(6 / 7)
    flat = localization.mass_inside(np.ones((2, 2)), region)[0]
    assert flat == pytest.approx(0.5)  # the area share


@pytest.mark.backend_independent
def test_localization_scores_groups_and_errors():
    maps = np.zeros((3, 2, 2))
    maps[:, 0, 0] = 1.0
    masks = np.zeros((3, 2, 2), bool)
    masks[0, 0, 0] = masks[1, 1, 1] = True
    masks[2, 0, :] = True
    s = localization.localization_scores(maps, masks, ["a", "a", "b"])
    assert s["a"] == {"n": 2, "pointing": 0.5, "mass": 0.5, "area": 0.25}
    ci = localization.localization_scores(
        maps, masks, ["a", "a", "b"], n_bootstrap=200
    )
    assert ci["a"]["pointing_ci"] == (0.0, 1.0)  # one hit in two cases
    assert ci["b"]["mass_ci"] == (1.0, 1.0)
    assert s["b"]["pointing"] == 1.0 and s["b"]["area"] == 0.5
    assert s["all"]["n"] == 3
    masks[1] = False
    with pytest.raises(ValueError, match="mask 1 is empty"):
        localization.localization_scores(maps, masks, ["a", "a", "b"])


@pytest.mark.backend_independent
def test_overlay_and_reliability_figures_are_written(tmp_path):
    from keras_clinclip.evaluation import plots
    from keras_clinclip.evaluation.metrics import clinical_metrics

    maps = np.zeros((2, 16, 16))
    maps[0, 3, 4] = maps[1, 10, 12] = 1.0
    figure = plots.plot_localization_maps(
        np.zeros((2, 16, 16, 3)),
        maps,
        maps > 0.5,
        ["a", "b"],
        tmp_path / "maps.png",
    )
    assert (tmp_path / "maps.png").stat().st_size > 0
    assert [ax.get_title() for ax in figure.axes] == ["a", "b"]
    with pytest.raises(ValueError, match="must both be"):
        plots.plot_localization_maps(np.zeros((2, 8, 8)), maps)
    r = clinical_metrics(
        [[1, 0], [0, 1]], [[0.8, 0.3], [0.1, 0.6]], ["x", "y"], n_bootstrap=0
    )
    figure = plots.plot_reliability_diagram(r, tmp_path / "rel.png")
    assert (tmp_path / "rel.png").exists()
    assert figure.axes[0].get_title().startswith("x\nECE ")


@pytest.mark.backend_independent
def test_location_masks_contain_synthcxr_drawn_regions():
    from keras_clinclip.data.synthetic import SynthCXR

    renderer = SynthCXR(image_size=64)
    for side in ("left", "right"):
        for zone in ("upper", "middle", "lower"):
            for seed in range(3):
                found = [("nodule", side, zone, 0.5)]
                drawn = renderer.finding_mask(found, "nodule", seed)
                coarse = localization.location_mask(f"{side} {zone}", (64, 64))
                # Most of the drawn region (widened by half a zone each
                # way) lies in the coarse band of the same words.
                assert (drawn & coarse).sum() > 0.6 * drawn.sum()
                other = "right" if side == "left" else "left"
                wrong = localization.location_mask(other, (64, 64))
                assert not (drawn & wrong).any()


@pytest.mark.backend_independent
def test_location_scores_sides_and_unlocated_cases():
    maps = np.zeros((3, 4, 4))
    maps[0, 1, 0] = 1.0  # image left = patient's right
    maps[1, 1, 3] = 1.0
    maps[2, 2, 2] = 1.0
    s = localization.location_scores(
        maps, ["right", "right", "no place"], ["a", "b", "c"]
    )
    assert s["a"]["pointing"] == 1.0 and s["b"]["pointing"] == 0.0
    assert "c" not in s and s["num_without"] == 1
    assert localization.location_mask("bilateral", (4, 4)).all()
    assert localization.location_scores(maps[:1], [""]) is None
    with pytest.raises(ValueError, match="must match"):
        localization.location_scores(maps, ["left"])
