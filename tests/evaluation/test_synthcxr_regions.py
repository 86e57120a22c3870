"""SynthCXR's drawn-region masks agree with what the renderer draws."""

import numpy as np
import pytest

from keras_clinclip.data.synthcxr import REGION_FINDINGS
from keras_clinclip.data.synthcxr import SynthCXR

pytestmark = pytest.mark.backend_independent

CASES = [
    ("nodule", "left", "upper"),
    ("mass", "right", "middle"),
    ("consolidation", "right", "lower"),
    ("opacity", "left", "middle"),
    ("effusion", "left", None),
    ("atelectasis", "right", "lower"),
    ("cardiomegaly", None, None),
    ("pneumothorax", "left", None),
]


def _blur(a, r=2):
    out = a.copy()
    for axis in (0, 1):
        out = sum(np.roll(out, k, axis=axis) for k in range(-r, r + 1))
    return out


@pytest.mark.parametrize("name,side,zone", CASES)
def test_the_largest_change_of_drawing_a_finding_is_in_its_region(
    name, side, zone
):
    renderer = SynthCXR(image_size=96)
    strong = [(name, side, zone, 0.9)]
    faint = [(name, side, zone, 0.1)]
    for seed in (0, 1, 2):
        mask = renderer.finding_mask(strong, name, seed=seed)
        assert 0.0 < mask.mean() < 0.3
        # Severity changes no random draw: the difference is the finding.
        change = np.abs(
            renderer.render(strong, seed=seed).astype(float)
            - renderer.render(faint, seed=seed).astype(float)
        )
        change = _blur(change)
        peak = np.unravel_index(change.argmax(), change.shape)
        # Within the 2 pixels by which the change was blurred.
        grown = _blur(mask.astype(float)) > 0
        assert grown[peak], (name, seed, peak)
        # (A mass is not clipped to the lung and may cross its edge.)
        assert change[grown].sum() > 0.7 * change.sum()


def test_sides_and_zones_select_different_regions():
    r = SynthCXR(image_size=64)
    right = r.finding_mask([("nodule", "right", "upper", 0.5)], "nodule", 4)
    left = r.finding_mask([("nodule", "left", "upper", 0.5)], "nodule", 4)
    lower = r.finding_mask([("nodule", "left", "lower", 0.5)], "nodule", 4)
    assert not (right & left).any() and not (left & lower).any()
    # The patient's right is the image's left half.
    assert np.nonzero(right)[1].mean() < 32 < np.nonzero(left)[1].mean()
    assert np.nonzero(left)[0].mean() < np.nonzero(lower)[0].mean()
    both = r.finding_mask([("edema", "bilateral", None, 0.5)], "edema", 4)
    assert both[:, :32].any() and both[:, 32:].any()


def test_findings_without_a_region_are_refused_by_name():
    r = SynthCXR(image_size=32)
    assert "tube" not in REGION_FINDINGS
    with pytest.raises(ValueError, match="'tube' is not a drawn finding"):
        r.finding_mask(["tube"], "tube")
    with pytest.raises(ValueError, match="drawn: \\['effusion'\\]"):
        r.finding_mask(["effusion"], "nodule")
