"""Pointing game, mass inside and coarse location regions (pure numpy)."""

import numpy as np
import pytest

from keras_clinclip.data.synthcxr import SynthCXR
from keras_clinclip.evaluation import pointing


@pytest.mark.backend_independent
def test_pointing_game_ties_and_tolerance():
    m = np.zeros((5, 5))
    region = np.zeros((5, 5), bool)
    region[2, 2] = True
    # Flat map: every position ties, not all inside -> miss.
    assert not pointing.pointing_game(m, region)[0]
    m[0, 0] = 1.0
    assert not pointing.pointing_game(m, region, tolerance=1)[0]
    assert pointing.pointing_game(m, region, tolerance=2)[0]


@pytest.mark.backend_independent
def test_mass_inside_hand_computed_and_constant_map():
    m = np.array([[-1.0, 1.0], [0.0, 3.0]])  # shifted: 0, 2, 1, 4
    region = np.array([[False, True], [False, True]])
    assert pointing.mass_inside(m, region)[0] == pytest.approx(6 / 7)
    flat = pointing.mass_inside(np.ones((2, 2)), region)[0]
    assert flat == pytest.approx(0.5)  # the area share


@pytest.mark.backend_independent
def test_localization_scores_groups_and_errors():
    maps = np.zeros((3, 2, 2))
    maps[:, 0, 0] = 1.0
    masks = np.zeros((3, 2, 2), bool)
    masks[0, 0, 0] = masks[1, 1, 1] = True
    masks[2, 0, :] = True
    s = pointing.localization_scores(maps, masks, ["a", "a", "b"])
    assert s["a"] == {"n": 2, "pointing": 0.5, "mass": 0.5, "area": 0.25}
    ci = pointing.localization_scores(
        maps, masks, ["a", "a", "b"], n_bootstrap=200
    )
    assert ci["a"]["pointing_ci"] == (0.0, 1.0)  # one hit in two cases
    assert ci["b"]["mass_ci"] == (1.0, 1.0)
    assert s["b"]["pointing"] == 1.0 and s["b"]["area"] == 0.5
    assert s["all"]["n"] == 3
    masks[1] = False
    with pytest.raises(ValueError, match="mask 1 is empty"):
        pointing.localization_scores(maps, masks, ["a", "a", "b"])


@pytest.mark.backend_independent
def test_location_masks_contain_synthcxr_drawn_regions():
    renderer = SynthCXR(image_size=64)
    for side in ("left", "right"):
        for zone in ("upper", "middle", "lower"):
            for seed in range(3):
                found = [("nodule", side, zone, 0.5)]
                drawn = renderer.finding_mask(found, "nodule", seed)
                coarse = pointing.location_mask(f"{side} {zone}", (64, 64))
                # Most of the drawn region (widened by half a zone each
                # way) lies in the coarse band of the same words.
                assert (drawn & coarse).sum() > 0.6 * drawn.sum()
                other = "right" if side == "left" else "left"
                wrong = pointing.location_mask(other, (64, 64))
                assert not (drawn & wrong).any()


@pytest.mark.backend_independent
def test_location_scores_sides_and_unlocated_cases():
    maps = np.zeros((3, 4, 4))
    maps[0, 1, 0] = 1.0  # image left = patient's right
    maps[1, 1, 3] = 1.0
    maps[2, 2, 2] = 1.0
    s = pointing.location_scores(
        maps, ["right", "right", "no place"], ["a", "b", "c"]
    )
    assert s["a"]["pointing"] == 1.0 and s["b"]["pointing"] == 0.0
    assert "c" not in s and s["num_without"] == 1
    assert pointing.location_mask("bilateral", (4, 4)).all()
    assert pointing.location_scores(maps[:1], [""]) is None
    with pytest.raises(ValueError, match="must match"):
        pointing.location_scores(maps, ["left"])
