"""CheXpert's 14 observations and its label convention.

The bottom of the package: every layer (reports, data, models, losses,
evaluation) spells the observations and the label values from here, and
this module imports nothing of keras_clinclip.

Labels follow the CheXpert CSV convention: `POSITIVE` (1.0), `NEGATIVE`
(0.0), `UNCERTAIN` (-1.0), and NaN for "not mentioned".

Example:
>>> from keras_clinclip import chexpert
>>> len(chexpert.CHEXPERT_OBSERVATIONS)
14
>>> chexpert.CHEXPERT_OBSERVATIONS.index(chexpert.NO_FINDING)
0
>>> chexpert.UNCERTAIN
-1.0
"""

NO_FINDING = "No Finding"

CHEXPERT_OBSERVATIONS = (
    NO_FINDING,
    "Enlarged Cardiomediastinum",
    "Cardiomegaly",
    "Lung Opacity",
    "Lung Lesion",
    "Edema",
    "Consolidation",
    "Pneumonia",
    "Atelectasis",
    "Pneumothorax",
    "Pleural Effusion",
    "Pleural Other",
    "Fracture",
    "Support Devices",
)

POSITIVE = 1.0
NEGATIVE = 0.0
UNCERTAIN = -1.0

# P(1), P(0), P(-1) per observation (the rest is NaN, "not mentioned"),
# measured on the CheXpert training labels that torchxrayvision ships
# (data/chexpert_train.csv.gz, 223,414 rows).
LABEL_FREQUENCIES = {
    "No Finding": (0.100, 0.0, 0.0),
    "Enlarged Cardiomediastinum": (0.048, 0.097, 0.056),
    "Cardiomegaly": (0.121, 0.050, 0.036),
    "Lung Opacity": (0.473, 0.030, 0.025),
    "Lung Lesion": (0.041, 0.006, 0.007),
    "Edema": (0.234, 0.093, 0.058),
    "Consolidation": (0.066, 0.126, 0.124),
    "Pneumonia": (0.027, 0.013, 0.084),
    "Atelectasis": (0.149, 0.006, 0.151),
    "Pneumothorax": (0.087, 0.252, 0.014),
    "Pleural Effusion": (0.386, 0.158, 0.052),
    "Pleural Other": (0.016, 0.001, 0.012),
    "Fracture": (0.041, 0.011, 0.003),
    "Support Devices": (0.519, 0.028, 0.005),
}


def observation_index(name):
    """The column of observation `name` in `CHEXPERT_OBSERVATIONS`.

    Args:
        name: an observation as CheXpert spells it.

    Returns:
        int, 0..13.

    Raises:
        ValueError: naming the unknown observation and the known ones.

    Example:
    >>> observation_index("Pleural Effusion")
    10
    """
    try:
        return CHEXPERT_OBSERVATIONS.index(name)
    except ValueError:
        raise ValueError(
            f"unknown CheXpert observation {name!r}; known: "
            f"{', '.join(CHEXPERT_OBSERVATIONS)}"
        ) from None
