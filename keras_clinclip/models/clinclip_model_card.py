"""The model card (`README.md`) written into every ClinCLIP preset."""

import json
import pathlib

SYNTHETIC_WARNING = (
    "**Warning: the image tower of this model saw only synthetic images.** "
    "It was trained on rendered radiographs (SynthCXR), not on real chest "
    "X-rays. Its image embeddings, zero-shot scores and retrieval results "
    "on real radiographs are not meaningful, and it must not be used for "
    "any clinical purpose."
)

DEFAULT_INTENDED_USE = (
    "Research on chest X-ray / report representation learning (zero-shot "
    "classification, retrieval, linear probes). Not a medical device: not "
    "for diagnosis or any clinical decision."
)

_KNOWN_KEYS = (
    "title",
    "description",
    "training_data",
    "synthetic_images",
    "training_config",
    "metrics",
    "intended_use",
    "limitations",
)


def check_model_card(model_card):
    """Validates a model-card dict and returns a JSON-ready copy.

    Args:
        model_card: None or a dict with any of `title` (str), `description`
            (str), `training_data` (str or list of str: the data sets the
            model was trained on), `synthetic_images` (True: the image
            tower saw only synthetic images; False: real radiographs; None:
            not known), `training_config` (dict), `metrics`
            (dict of name -> number or str), `intended_use` (str) and
            `limitations` (str).

    Returns:
        A new dict (empty for None).

    Example:
    >>> check_model_card({"synthetic_images": True})
    {'synthetic_images': True}
    """
    if model_card is None:
        return {}
    if not isinstance(model_card, dict):
        raise ValueError(
            f"`model_card` must be a dict; got {type(model_card).__name__}."
        )
    unknown = sorted(set(model_card) - set(_KNOWN_KEYS))
    if unknown:
        raise ValueError(
            f"Unknown `model_card` keys {unknown}; the known keys are "
            f"{list(_KNOWN_KEYS)}."
        )
    card = dict(model_card)
    for key in ("training_config", "metrics"):
        if key in card and not isinstance(card[key], dict):
            raise ValueError(
                f"`model_card['{key}']` must be a dict; got "
                f"{type(card[key]).__name__}."
            )
    if card.get("synthetic_images") is not None:
        card["synthetic_images"] = bool(card["synthetic_images"])
    data = card.get("training_data")
    if isinstance(data, (list, tuple)):
        card["training_data"] = [str(item) for item in data]
    # Round-trip through JSON so that the card stores as metadata.
    return json.loads(json.dumps(card, default=str))


# What the card says of the images, for `synthetic_images`.
_IMAGE_PROVENANCE = {
    True: "synthetic only (rendered radiographs).",
    False: "real radiographs.",
    None: "unknown: whether they are real radiographs or synthetic renders "
    "was not recorded; establish it before any clinical reading.",
}


def _table(mapping):
    rows = ["| name | value |", "| --- | --- |"]
    for key in sorted(mapping):
        value = mapping[key]
        if isinstance(value, float):
            value = f"{value:.6g}"
        rows.append(f"| `{key}` | {value} |")
    return "\n".join(rows)


def render_model_card(backbone, model_card=None, tasks=()):
    """The Markdown text of a preset's model card.

    Args:
        backbone: the `ClinCLIPBackbone` being saved.
        model_card: a dict as for `check_model_card` (None: nothing known
            about the training; the card says so).
        tasks: names of the task classes that load the preset.

    Returns:
        A str.

    Example:
    >>> from keras_clinclip.models import tiny_clinclip_backbone
    >>> text = render_model_card(tiny_clinclip_backbone(),
    ...                          {"synthetic_images": True})
    >>> "only synthetic images" in text
    True
    """
    card = check_model_card(model_card)
    title = card.get("title") or f"ClinCLIP preset ({type(backbone).__name__})"
    lines = [f"# {title}", ""]
    if card.get("synthetic_images"):
        lines += [SYNTHETIC_WARNING, ""]
    if card.get("description"):
        lines += [card["description"], ""]
    image = type(backbone.image_encoder).__name__
    text = type(backbone.text_encoder).__name__
    parts = [
        f"- image tower: `{image}`, input {tuple(backbone.image_shape)}",
        f"- text tower: `{text}`",
        f"- embedding dimension: {backbone.embedding_dim}",
        f"- negated reports per study: {backbone.num_negations}",
        "- report-graph branch: "
        + (
            f"yes (node features {backbone.graph_feature_dim})"
            if backbone.graph_feature_dim is not None
            else "no"
        ),
        f"- parameters: {backbone.count_params():,}",
    ]
    lines += ["## Model", ""] + parts + [""]
    lines += ["## Training data", ""]
    data = card.get("training_data")
    if not data:
        lines.append(
            "Not recorded: nothing is known about the data these weights "
            "were trained on (they may be untrained)."
        )
    elif isinstance(data, list):
        lines += [f"- {item}" for item in data]
    else:
        lines.append(str(data))
    if "synthetic_images" in card:
        lines.append("")
        lines.append("Images: " + _IMAGE_PROVENANCE[card["synthetic_images"]])
    lines.append("")
    if card.get("training_config"):
        lines += ["## Training configuration", ""]
        lines += [_table(card["training_config"]), ""]
    lines += ["## Metrics", ""]
    if card.get("metrics"):
        lines += [_table(card["metrics"]), ""]
    else:
        lines += ["None recorded.", ""]
    lines += ["## Intended use", ""]
    lines += [card.get("intended_use") or DEFAULT_INTENDED_USE, ""]
    if card.get("limitations"):
        lines += ["## Limitations", "", card["limitations"], ""]
    lines += ["## Loading", "", "```python", "import keras_clinclip", ""]
    lines.append(
        "backbone = keras_clinclip.models.ClinCLIPBackbone.from_preset(PATH)"
    )
    for task in tasks:
        lines.append(f"task = keras_clinclip.models.{task}.from_preset(PATH)")
    lines += ["```", ""]
    return "\n".join(lines)


def write_model_card(preset_dir, backbone, model_card=None):
    """Writes `README.md` and records the card and tasks in `metadata.json`.

    KerasHub's `metadata.json` lists the base classes of the tasks (a
    mixin for ours); `tasks` lists the ClinCLIP task classes that load the
    preset instead, and the card itself is kept under
    `clinclip_model_card`, so that tools can read `synthetic_images`.

    Args:
        preset_dir: the preset directory (already holding `metadata.json`).
        backbone: the saved `ClinCLIPBackbone`.
        model_card: a dict as for `check_model_card`, or None.

    Returns:
        The `pathlib.Path` of the `README.md`.

    Example:
    >>> import tempfile
    >>> from keras_clinclip.models import tiny_clinclip_backbone
    >>> folder = tempfile.mkdtemp()
    >>> path = write_model_card(folder, tiny_clinclip_backbone(),
    ...                         {"training_data": "SynthCXR"})
    >>> path.name
    'README.md'
    """
    from keras_hub.src.models.task import Task
    from keras_hub.src.utils.preset_utils import list_subclasses

    card = check_model_card(model_card)
    preset_dir = pathlib.Path(preset_dir)
    preset_dir.mkdir(parents=True, exist_ok=True)
    classes = [
        cls
        for cls in list_subclasses(Task)
        if cls.backbone_cls is type(backbone)
    ]
    tasks = sorted(cls.__name__ for cls in classes)
    metadata_path = preset_dir / "metadata.json"
    metadata = {}
    if metadata_path.exists():
        metadata = json.loads(metadata_path.read_text())
    # KerasHub lists each task's first base class (for ours a mixin).
    bases = {cls.__base__.__name__ for cls in classes}
    listed = set(metadata.get("tasks", [])) - bases
    metadata["tasks"] = sorted(listed | set(tasks))
    metadata["clinclip_model_card"] = card
    metadata_path.write_text(json.dumps(metadata, indent=4))
    path = preset_dir / "README.md"
    path.write_text(render_model_card(backbone, card, tasks=tasks))
    return path


def read_model_card(preset_dir):
    """The model-card dict recorded in a local preset (`{}` if none).

    Args:
        preset_dir: a local preset directory.

    Example:
    >>> import tempfile
    >>> read_model_card(tempfile.mkdtemp())
    {}
    """
    path = pathlib.Path(preset_dir) / "metadata.json"
    if not path.exists():
        return {}
    return json.loads(path.read_text()).get("clinclip_model_card", {})
