"""SynthCXR: a deterministic renderer of chest-radiograph-like images.

The anatomy comes from the real lung masks shipped in `torchxrayvision`
(`data/semantic_masks_v7labs_lungs.zip`), varied per study (scale,
rotation, position, exposure, noise); a heart silhouette, mediastinum,
aortic knob, spine, clavicles, ribs, diaphragm domes and gastric bubble are
drawn around them. Findings are drawn at the stated side and zone with a
size or density that grows with severity.

Conventions: a frontal (PA) view as a radiologist reads it, so the
patient's right is on the image's left; dense structures are white.

The modules, bottom up: `raster` (soft shapes and blurs), `masks` (the
real lung masks), `findings` (the registry: finding name -> how it is
drawn), `anatomy` (the study's shape, lungs, markings, ribs), `canvas`
(the renderer's state), `lungs`, `body`, `devices` (the built-in
findings' drawings, registered in `builtin`), `renderer` (`SynthCXR`)
and `dataset` (`synthetic_pairs`).

Example:
>>> from keras_clinclip.data.synthcxr import SynthCXR, register_finding
>>> from keras_clinclip.data.synthcxr import raster, unregister_finding
>>> def draw_coin(canvas, finding):
...     canvas.overlay = canvas.overlay + raster.disk(
...         canvas.xx, canvas.yy, 0.5, 0.5, 0.03)
>>> _ = register_finding("coin", draw=draw_coin, stage="devices")
>>> SynthCXR(32).render(["coin"], seed=0).shape
(32, 32)
>>> _ = unregister_finding("coin")
"""

from keras_clinclip.data.synthcxr import builtin  # noqa: F401 (registers)
from keras_clinclip.data.synthcxr import raster
from keras_clinclip.data.synthcxr.anatomy import Anatomy
from keras_clinclip.data.synthcxr.anatomy import RibCage
from keras_clinclip.data.synthcxr.canvas import Canvas
from keras_clinclip.data.synthcxr.dataset import FALLBACK_FREQUENCIES
from keras_clinclip.data.synthcxr.dataset import sample_chexpert_labels
from keras_clinclip.data.synthcxr.dataset import synthetic_pairs
from keras_clinclip.data.synthcxr.findings import FINDINGS
from keras_clinclip.data.synthcxr.findings import REGION_FINDINGS
from keras_clinclip.data.synthcxr.findings import REGISTRY
from keras_clinclip.data.synthcxr.findings import SIDES
from keras_clinclip.data.synthcxr.findings import STAGES
from keras_clinclip.data.synthcxr.findings import ZONES
from keras_clinclip.data.synthcxr.findings import Finding
from keras_clinclip.data.synthcxr.findings import FindingKind
from keras_clinclip.data.synthcxr.findings import normalize_findings
from keras_clinclip.data.synthcxr.findings import register_finding
from keras_clinclip.data.synthcxr.findings import unregister_finding
from keras_clinclip.data.synthcxr.lungs import FluidRegion
from keras_clinclip.data.synthcxr.lungs import LungRegion
from keras_clinclip.data.synthcxr.masks import lung_masks
from keras_clinclip.data.synthcxr.renderer import RENDERER_VERSION
from keras_clinclip.data.synthcxr.renderer import SynthCXR

__all__ = [
    "Anatomy",
    "Canvas",
    "FALLBACK_FREQUENCIES",
    "FINDINGS",
    "Finding",
    "FindingKind",
    "FluidRegion",
    "LungRegion",
    "REGION_FINDINGS",
    "REGISTRY",
    "RENDERER_VERSION",
    "RibCage",
    "SIDES",
    "STAGES",
    "SynthCXR",
    "ZONES",
    "lung_masks",
    "normalize_findings",
    "raster",
    "register_finding",
    "sample_chexpert_labels",
    "synthetic_pairs",
    "unregister_finding",
]
