"""The built-in SynthCXR findings: one registration each, in one table.

Sides are the patient's; a `None` zone means the finding has no zone.
Importing `keras_clinclip.data.synthcxr` registers them.

Example:
>>> from keras_clinclip.data.synthcxr import FINDINGS
>>> FINDINGS["nodule"]
('right', 'upper', 'small round opacity')
"""

from keras_clinclip.data.synthcxr import body
from keras_clinclip.data.synthcxr import devices
from keras_clinclip.data.synthcxr import lungs
from keras_clinclip.data.synthcxr.findings import register_finding
from keras_clinclip.data.synthcxr.lungs import FluidRegion
from keras_clinclip.data.synthcxr.lungs import LungRegion


def _register():
    """Register the built-in findings (their order is `FINDINGS`')."""
    zone, whole = LungRegion(), LungRegion("any")
    add = register_finding
    add(
        "cardiomegaly",
        description="cardiothoracic ratio above 0.5",
        anatomy=body._shape_cardiomegaly,
        region=body.heart_region,
    )
    add(
        "widened_mediastinum",
        description="enlarged cardiomediastinum",
        anatomy=body._shape_widened_mediastinum,
        region=body.mediastinum_region,
    )
    add(
        "effusion",
        side="right",
        zone="lower",
        description="blunted angle and meniscus",
        draw=lungs._draw_effusion,
        stage="fluid",
        region=FluidRegion(),
    )
    add(
        "pneumothorax",
        side="right",
        zone="upper",
        description="lucent rim without markings",
        draw=lungs._draw_pneumothorax,
        stage="pleura",
        region=whole,
    )
    add(
        "consolidation",
        side="right",
        zone="lower",
        description="dense opacity, air bronchograms",
        draw=lungs._draw_consolidation,
        region=zone,
    )
    add(
        "opacity",
        side="right",
        zone="lower",
        description="patchy airspace opacity",
        draw=lungs._draw_opacity,
        region=zone,
    )
    add(
        "atelectasis",
        side="left",
        zone="lower",
        description="plate-like band",
        draw=lungs._draw_atelectasis,
        region=zone,
    )
    add(
        "edema",
        side="bilateral",
        description="bilateral perihilar haze, Kerley lines",
        anatomy=body._shape_edema,
        draw=lungs._draw_edema,
        region=whole,
    )
    for name, description, draw in (
        ("nodule", "small round opacity", lungs._draw_nodule),
        ("mass", "large lobulated opacity", lungs._draw_mass),
        ("granuloma", "small calcified dot", lungs._draw_granuloma),
    ):
        add(
            name,
            side="right",
            zone="upper",
            description=description,
            draw=draw,
            region=zone,
        )
    add(
        "emphysema",
        side="bilateral",
        description="hyperinflation, flat diaphragm",
        anatomy=body._shape_emphysema,
    )
    add(
        "hypoinflation",
        side="bilateral",
        description="low lung volumes",
        anatomy=body._shape_hypoinflation,
    )
    add(
        "fracture",
        side="right",
        zone="middle",
        description="rib with a break and step-off",
        draw=body._draw_fracture,
        stage="ribs",
        region=zone,
    )
    for name, side, description, draw in (
        (
            "central_line",
            "right",
            "venous catheter to the SVC",
            devices._draw_central_line,
        ),
        (
            "tube",
            None,
            "endotracheal and nasogastric tubes",
            devices._draw_tube,
        ),
        (
            "pacemaker",
            "left",
            "generator and leads to the heart",
            devices._draw_pacemaker,
        ),
        ("sternotomy", None, "sternal wires", devices._draw_sternotomy),
    ):
        add(
            name, side=side, description=description, draw=draw, stage="devices"
        )
    for name, description, draw in (
        (
            "pleural_thickening",
            "pleural band or apical cap",
            lungs._draw_pleural_thickening,
        ),
        ("scarring", "linear and reticular scar", lungs._draw_scarring),
    ):
        add(
            name,
            side="right",
            zone="upper",
            description=description,
            draw=draw,
            region=zone,
        )
    add(
        "interstitial",
        side="bilateral",
        description="reticular interstitial pattern",
        draw=lungs._draw_interstitial,
        region=whole,
    )
    add(
        "hiatal_hernia",
        description="retrocardiac air-fluid level",
        anatomy=body._shape_hiatal_hernia,
        draw=devices._draw_hiatal_hernia,
        stage="devices",
    )
    add(
        "elevated_diaphragm",
        side="right",
        description="raised hemidiaphragm",
        anatomy=body._shape_elevated_diaphragm,
    )
    add(
        "aortic_calcification",
        description="tortuous calcified aorta",
        anatomy=body._shape_aortic_calcification,
        draw=body._draw_aortic_calcification,
        stage="mediastinum",
        combine=True,
    )
    add(
        "scoliosis",
        description="curved spine",
        anatomy=body._shape_scoliosis,
        combine=True,
    )
    add(
        "spine_degeneration",
        description="vertebral osteophytes",
        draw=body._draw_spine_degeneration,
        stage="spine",
        combine=True,
    )


_register()
