"""IU X-ray MeSH tags -> SynthCXR findings (what each report's image shows).

The radiologists' MeSH major tags of an IU report (`Heading/modifier/...`)
become the SynthCXR findings drawn in its image: the heading names the
finding (`MESH_TERMS`, or `MESH_ORGAN_TERMS` for an organ with a modifier),
the modifiers its side, zone (`MESH_ZONES`) and severity (`MESH_SEVERITY`).
"""

import numpy as np

from keras_clinclip.data.synthcxr import FINDINGS
from keras_clinclip.data.synthcxr import Finding

# MeSH main heading (lower case) -> SynthCXR finding. `None`: not drawn.
MESH_TERMS = {
    "cardiomegaly": "cardiomegaly",
    "pleural effusion": "effusion",
    "hydropneumothorax": "effusion",
    "hemothorax": "effusion",
    "pneumothorax": "pneumothorax",
    "hemopneumothorax": "pneumothorax",
    "consolidation": "consolidation",
    "pneumonia": "consolidation",
    "airspace disease": "consolidation",
    "opacity": "opacity",
    "infiltrate": "opacity",
    "density": "opacity",
    "pulmonary atelectasis": "atelectasis",
    "atelectasis": "atelectasis",
    "volume loss": "atelectasis",
    "pulmonary edema": "edema",
    "edema": "edema",
    "pulmonary congestion": "edema",
    "heart failure": "edema",
    "nodule": "nodule",
    "mass": "mass",
    "calcified granuloma": "granuloma",
    "granuloma": "granuloma",
    "granulomatous disease": "granuloma",
    "emphysema": "emphysema",
    "pulmonary emphysema": "emphysema",
    "bullous emphysema": "emphysema",
    "pulmonary disease, chronic obstructive": "emphysema",
    "lung, hyperlucent": "emphysema",
    "fractures, bone": "fracture",
    "rib fractures": "fracture",
    "catheters, indwelling": "central_line",
    "catheterization, central venous": "central_line",
    "tube, inserted": "tube",
    "pacemaker, artificial": "pacemaker",
    "implanted medical device": "pacemaker",
    "medical device": "pacemaker",
    "surgical instruments": "sternotomy",
    "sutures": "sternotomy",
    "sternotomy": "sternotomy",
    "cicatrix": "scarring",
    "scarring": "scarring",
    "pulmonary fibrosis": "scarring",
    "fibrosis": "scarring",
    "lung diseases, interstitial": "interstitial",
    "hernia, hiatal": "hiatal_hernia",
    "hiatal hernia": "hiatal_hernia",
    "diaphragmatic eventration": "elevated_diaphragm",
    "atherosclerosis": "aortic_calcification",
    "aortic aneurysm": "aortic_calcification",
    "scoliosis": "scoliosis",
    "osteophyte": "spine_degeneration",
    "spondylosis": "spine_degeneration",
}

# (main heading, a modifier it needs) -> finding, for headings that name
# an organ rather than a finding.
MESH_ORGAN_TERMS = {
    ("lung", "hypoinflation"): "hypoinflation",
    ("lung", "hyperdistention"): "emphysema",
    ("cardiac shadow", "enlarged"): "cardiomegaly",
    ("heart", "enlarged"): "cardiomegaly",
    ("mediastinum", "enlarged"): "widened_mediastinum",
    ("mediastinum", "prominent"): "widened_mediastinum",
    ("costophrenic angle", "blunted"): "effusion",
    ("diaphragm", "elevated"): "elevated_diaphragm",
    ("diaphragm", "flattened"): "emphysema",
    ("thickening", "pleura"): "pleural_thickening",
    ("markings", "interstitial"): "interstitial",
    ("markings", "prominent"): "interstitial",
    ("calcinosis", "aorta"): "aortic_calcification",
    ("calcinosis", "aorta, thoracic"): "aortic_calcification",
    ("calcinosis", "lung"): "granuloma",
    ("calcinosis", "lymph nodes"): "granuloma",
    ("aorta", "tortuous"): "aortic_calcification",
    ("aorta, thoracic", "tortuous"): "aortic_calcification",
    ("thoracic aorta", "tortuous"): "aortic_calcification",
    ("spine", "degenerative"): "spine_degeneration",
    ("thoracic vertebrae", "degenerative"): "spine_degeneration",
}

MESH_ZONES = {
    "upper lobe": "upper",
    "apex": "upper",
    "middle lobe": "middle",
    "lingula": "middle",
    "hilum": "middle",
    "lower lobe": "lower",
    "base": "lower",
    "retrocardiac": "lower",
    "costophrenic angle": "lower",
}

MESH_SEVERITY = {
    "borderline": 0.2,
    "minimal": 0.2,
    "mild": 0.3,
    "small": 0.3,
    "moderate": 0.55,
    "severe": 0.85,
    "large": 0.85,
}


def mesh_to_findings(tags, seed=0):
    """SynthCXR findings from an IU report's MeSH major tags.

    A tag reads `Heading/modifier/.../modifier` (e.g.
    `Pleural Effusion/bilateral/small`, `Opacity/lung/base/left`). The
    heading gives the finding (`MESH_TERMS`, or `MESH_ORGAN_TERMS` for
    organ headings with a modifier such as `Lung/hypoinflation`); `left`,
    `right`, `bilateral` the (patient's) side; `MESH_ZONES` the zone;
    `MESH_SEVERITY` the severity (0.5 when not stated). `multiple` or
    `scattered` draw nodules and granulomas two or three times. Tags that
    map to no finding (`normal`, `No Indexing`, ...) are ignored.

    Args:
        tags: a list of MeSH tag strings.
        seed: an int that picks the side of lateral findings whose tag
            names none.

    Returns:
        A list of `keras_clinclip.data.synthcxr.Finding`.

    Example:
    >>> mesh_to_findings(["Pleural Effusion/left/small"])[0]
    Finding(name='effusion', side='left', zone=None, severity=0.3)
    """
    rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, 3])
    out = []
    for tag in tags:
        parts = [p.strip().lower() for p in tag.split("/") if p.strip()]
        if not parts:
            continue
        head, modifiers = parts[0], parts[1:]
        name = MESH_TERMS.get(head)
        if name is None:
            for modifier in modifiers:
                name = MESH_ORGAN_TERMS.get((head, modifier))
                if name:
                    break
        if name is None:
            continue
        side = next(
            (m for m in modifiers if m in ("left", "right", "bilateral")),
            None,
        )
        zone = next((MESH_ZONES[m] for m in modifiers if m in MESH_ZONES), None)
        severity = next(
            (MESH_SEVERITY[m] for m in modifiers if m in MESH_SEVERITY), 0.5
        )
        default_side, default_zone, _ = FINDINGS[name]
        if side is None and default_side in ("left", "right"):
            side = ("right", "left")[int(rng.integers(2))]
        if name in ("pleural_thickening", "scarring") and zone is None:
            zone = "upper"
        count = 1
        if name in ("nodule", "granuloma") and any(
            m in ("multiple", "scattered") for m in modifiers
        ):
            count = int(rng.integers(2, 4))
        for _ in range(count):
            out.append(Finding(name, side, zone, severity))
    return out
