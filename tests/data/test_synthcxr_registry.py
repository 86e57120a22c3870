"""SynthCXR's finding registry: custom findings, combined repeats, and
the pictures pinned to RENDERER_VERSION."""

import hashlib

import numpy as np
import pytest

from keras_clinclip.data import synthcxr
from keras_clinclip.data.synthcxr import FINDINGS
from keras_clinclip.data.synthcxr import REGION_FINDINGS
from keras_clinclip.data.synthcxr import LungRegion
from keras_clinclip.data.synthcxr import SynthCXR
from keras_clinclip.data.synthcxr import raster
from keras_clinclip.data.synthcxr import register_finding
from keras_clinclip.data.synthcxr import unregister_finding

pytestmark = pytest.mark.backend_independent

SIZE = 64


def _draw_bright_spot(canvas, finding):
    """A very bright spot at a point of the finding's lung and zone."""
    for side in synthcxr.findings.sides(finding.side):
        x, y = canvas.zone_point(side, finding.zone)
        spot = raster.disk(canvas.xx, canvas.yy, x, y, 0.03, edge=0.5)
        spot = spot * canvas.lungs[side]
        canvas.density = canvas.density + finding.severity * spot


def _grow(mask, r):
    out = mask.copy()
    for axis in (0, 1):
        out = np.any([np.roll(out, k, axis) for k in range(-r, r + 1)], 0)
    return out


@pytest.fixture
def bright_spot():
    kind = register_finding(
        "bright_spot",
        side="left",
        zone="upper",
        description="a test spot",
        draw=_draw_bright_spot,
        region=LungRegion(),
    )
    yield kind
    unregister_finding("bright_spot")


def test_a_registered_finding_is_drawn_in_its_region(bright_spot):
    renderer = SynthCXR(SIZE)
    assert FINDINGS["bright_spot"] == ("left", "upper", "a test spot")
    assert REGION_FINDINGS["bright_spot"] is None  # its own zone
    for seed in range(3):
        spot = [("bright_spot", None, None, 1.0)]
        image = renderer.render(spot, seed).astype(float)
        # Only the drawing differs: the spot takes one draw (its point)
        # after everything the normal study draws but the film's noise, so
        # compare with the same study drawn faintly.
        faint = renderer.render([("bright_spot", None, None, 0.0)], seed)
        change = image - faint.astype(float)
        assert change.max() > 60
        # Labelled where it is drawn: the left (image right) upper lung.
        mask = renderer.finding_mask(spot, "bright_spot", seed)
        assert mask.any() and not mask[:, : SIZE // 2].any()
        peak = np.unravel_index(change.argmax(), change.shape)
        assert mask[peak], (seed, peak)
        # The film's blur spreads it by at most 2 pixels.
        grown = _grow(mask, 2)
        assert change[grown].sum() > 0.95 * change[change > 0].sum()


def test_an_unregistered_finding_is_unknown_again():
    register_finding("short_lived", draw=_draw_bright_spot)
    assert "short_lived" in FINDINGS
    unregister_finding("short_lived")
    assert "short_lived" not in FINDINGS
    with pytest.raises(ValueError, match="Unknown SynthCXR finding"):
        SynthCXR(32).render(["short_lived"])


def test_registering_changes_no_other_picture(bright_spot):
    renderer = SynthCXR(32)
    before = renderer.render(["effusion", "nodule"], seed=5)
    unregister_finding("bright_spot")
    try:
        after = renderer.render(["effusion", "nodule"], seed=5)
    finally:
        register_finding("bright_spot", **_fields(bright_spot))
    np.testing.assert_array_equal(before, after)


def _fields(kind):
    return {
        k: getattr(kind, k) for k in kind.__dataclass_fields__ if k != "name"
    }


def test_registration_refuses_clashes_and_bad_fields(bright_spot):
    with pytest.raises(ValueError, match="already registered"):
        register_finding("effusion")
    with pytest.raises(ValueError, match="stage must be one of"):
        register_finding("nowhere", stage="film")
    with pytest.raises(ValueError, match="side must be one of"):
        register_finding("sideways", side="middle")
    assert "nowhere" not in FINDINGS and "sideways" not in FINDINGS
    # replace=True redefines a finding.
    kind = register_finding(
        "bright_spot", replace=True, **{**_fields(bright_spot), "zone": None}
    )
    assert FINDINGS["bright_spot"][1] is None and kind.zone is None


def test_findings_without_region_are_not_labelled(bright_spot):
    register_finding("no_region", draw=_draw_bright_spot)
    try:
        assert "no_region" not in REGION_FINDINGS
        with pytest.raises(ValueError, match="'no_region' is not a drawn"):
            SynthCXR(32).finding_mask(["no_region"], "no_region")
    finally:
        unregister_finding("no_region")


def test_combined_findings_draw_once_at_their_greatest_severity():
    renderer = SynthCXR(SIZE)
    for name in ("scoliosis", "spine_degeneration", "aortic_calcification"):
        assert synthcxr.REGISTRY[name].combine
        twice = [(name, None, None, 0.2), "effusion", (name, None, None, 0.9)]
        once = [(name, None, None, 0.9), "effusion"]
        np.testing.assert_array_equal(
            renderer.render(twice, 7), renderer.render(once, 7)
        )
    # Other findings are drawn once per entry.
    two = [("effusion", "left", None, 0.5), ("effusion", "right", None, 0.5)]
    one = [("effusion", "left", None, 0.5)]
    assert (renderer.render(two, 7) != renderer.render(one, 7)).any()


# If the pictures change on purpose, bump RENDERER_VERSION (caches of
# rendered images are keyed on it) and update these hashes.
PINNED = {
    "version": "2",
    "normal": "1695e1745f2685f6",
    "effusion+nodule": "47373a09fc4b73c7",
    "every finding": "c224429fea290ba5",
}


def test_pictures_are_pinned_to_the_renderer_version():
    renderer = SynthCXR(SIZE)
    cases = {
        "normal": ([], 0),
        "effusion+nodule": ([("effusion", "left", None, 0.6), "nodule"], 1),
        "every finding": (list(FINDINGS), 2),
    }
    assert synthcxr.lung_masks()["source"] == "torchxrayvision"
    assert synthcxr.RENDERER_VERSION == PINNED["version"]
    for key, (findings, seed) in cases.items():
        image = renderer.render(findings, seed)
        digest = hashlib.sha256(image.tobytes()).hexdigest()[:16]
        assert digest == PINNED[key], key
