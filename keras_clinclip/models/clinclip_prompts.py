"""Zero-shot prompt pairs: positive/negative phrasings per finding.

The defaults live in `keras_clinclip/models/data/prompts.yaml`: several
paired phrasings for the 14 CheXpert observations and common IU X-ray
findings, plus templates for any other finding. Users extend or replace
them with a YAML/JSON file or a dict of the same schema:

```yaml
templates: {positive: ["There is {finding}."], negative: [...]}
findings:
  Cardiomegaly: {positive: [...], negative: [...]}
  Hilar Adenopathy: {phrase: "hilar adenopathy"}   # uses the templates
```

A finding's prompts resolve to a dict `{"positive": [...], "negative":
[...]}`. Templates are never applied to a phrase that is itself a
negation ("no finding"): that would give the "there is no no finding"
prompt that has bitten other projects; such findings need explicit
prompts.

Several phrasings of one prompt are ensembled in embedding space by
`ensemble_prompt_embeddings` (the mean of the unit vectors, renormalised,
as CLIP does), after `prompt_texts` has laid every phrasing out in one
list to embed: the one home of both, used by `ClinCLIPZeroShotClassifier`
and by `keras_clinclip.evaluation.zero_shot`.
"""

import copy
import json
import os
import pathlib

import numpy as np
import yaml

PROMPTS_PATH = pathlib.Path(__file__).parent / "data" / "prompts.yaml"

_NEGATION_STARTS = ("no ", "not ", "without ", "absence ", "absent ")


def _read_file(path):
    path = pathlib.Path(path)
    if not path.exists():
        raise FileNotFoundError(f"prompt file {str(path)!r} does not exist")
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        return json.loads(text)
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(
            f"prompt file {str(path)!r} must hold a mapping with "
            f"'templates' and/or 'findings', got {type(data).__name__}"
        )
    return data


def _check_list(value, where):
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError(f"{where} must be a non-empty list of strings")
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise ValueError(f"{where}[{i}] must be a non-empty string")
    return [str(v) for v in value]


def _expand(name, entry, templates, source):
    """Resolve one finding entry to explicit positive/negative lists."""
    where = f"prompts for {name!r} ({source})"
    if isinstance(entry, str):
        entry = {"phrase": entry}
    if not isinstance(entry, dict):
        raise ValueError(
            f"{where} must be a mapping with 'positive'/'negative' or "
            f"'phrase', got {type(entry).__name__}"
        )
    unknown = set(entry) - {"positive", "negative", "phrase"}
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
    has_explicit = "positive" in entry or "negative" in entry
    if has_explicit:
        if "positive" not in entry or "negative" not in entry:
            missing = "negative" if "positive" in entry else "positive"
            raise ValueError(f"{where} has no '{missing}' list")
        positive = _check_list(entry["positive"], f"{where}: positive")
        negative = _check_list(entry["negative"], f"{where}: negative")
    else:
        phrase = entry.get("phrase", name)
        positive, negative = _from_templates(name, phrase, templates, where)
    return {"positive": positive, "negative": negative}


def _from_templates(name, phrase, templates, where):
    phrase = str(phrase).strip()
    if not phrase:
        raise ValueError(f"{where}: the phrase is empty")
    if phrase.lower().startswith(_NEGATION_STARTS):
        raise ValueError(
            f"{where}: the phrase {phrase!r} is itself a negation, so the "
            "templates would produce a double negation; give explicit "
            "'positive' and 'negative' prompts for this finding"
        )
    if not templates:
        raise ValueError(
            f"{where}: no explicit prompts and no templates to build them"
        )
    # Lower-case the words of a title-cased name, keeping acronyms (COPD).
    lower = " ".join(
        w if (len(w) > 1 and w.isupper()) else w.lower() for w in phrase.split()
    )
    values = {"finding": lower, "Finding": phrase[0].upper() + phrase[1:]}
    out = []
    for key in ("positive", "negative"):
        out.append([t.format(**values) for t in templates[key]])
    return out[0], out[1]


def _templates_of(data, source):
    templates = data.get("templates")
    if templates is None:
        return None
    if not isinstance(templates, dict) or set(templates) != {
        "positive",
        "negative",
    }:
        raise ValueError(
            f"'templates' in {source} must have exactly 'positive' and "
            "'negative' lists"
        )
    return {
        key: _check_list(templates[key], f"templates.{key} in {source}")
        for key in ("positive", "negative")
    }


def load_prompts(source=None, overrides=None):
    """Load prompt pairs, from the defaults or a file/dict, with overrides.

    Args:
        source: `None` for the defaults, a path to a YAML/JSON file, or a
            dict with `templates` and/or `findings`. A file or dict given
            here is merged over the defaults (its findings replace the
            default ones of the same name, its templates replace the
            default templates) unless it sets `replace_defaults: true`.
        overrides: optional dict `{finding: entry}` applied last; an entry
            is `{"positive": [...], "negative": [...]}`, `{"phrase": ...}`
            or a bare phrase string.

    Returns:
        dict `{finding: {"positive": [...], "negative": [...]}}`, with the
        templates under the reserved key `"__templates__"` removed; use
        `prompt_pairs` to get the prompts of a list of findings.

    Example:
    >>> prompts = load_prompts(overrides={"Cardiomegaly": "a big heart"})
    >>> prompts["Cardiomegaly"]["positive"][0]
    'There is a big heart.'
    >>> prompts["No Finding"]["positive"][0]
    'Normal chest radiograph.'
    """
    return _load(source, overrides)[1]


def _load(source, overrides):
    defaults = _read_file(PROMPTS_PATH)
    layers = [(defaults, str(PROMPTS_PATH))]
    if source is not None:
        if isinstance(source, (str, os.PathLike)):
            layers.append((_read_file(source), str(source)))
        elif isinstance(source, dict):
            layers.append((copy.deepcopy(source), "the prompts dict"))
        else:
            raise TypeError(
                "source must be None, a path or a dict, got "
                f"{type(source).__name__}"
            )
        if layers[-1][0].get("replace_defaults"):
            layers = layers[-1:]
    if overrides:
        if not isinstance(overrides, dict):
            raise TypeError(
                f"overrides must be a dict, got {type(overrides).__name__}"
            )
        layers.append(({"findings": overrides}, "overrides"))
    templates = None
    entries = {}
    for data, where in layers:
        unknown = set(data) - {
            "version",
            "templates",
            "findings",
            "replace_defaults",
        }
        if unknown:
            raise ValueError(
                f"unknown top-level keys {sorted(unknown)} in {where}"
            )
        new_templates = _templates_of(data, where)
        if new_templates is not None:
            templates = new_templates
        findings = data.get("findings") or {}
        if not isinstance(findings, dict):
            raise ValueError(f"'findings' in {where} must be a mapping")
        for name, entry in findings.items():
            entries[str(name)] = (entry, where)
    prompts = {
        name: _expand(name, entry, templates, where)
        for name, (entry, where) in entries.items()
    }
    return templates, prompts


def prompt_pairs(findings, source=None, overrides=None):
    """The prompts of the given findings, in order.

    A finding missing from the prompt set gets prompts from the templates
    with its name as the phrase (and a double negation is refused).

    Args:
        findings: a list of finding names (e.g.
            `keras_clinclip.reports.CHEXPERT_OBSERVATIONS`).
        source: see `load_prompts`.
        overrides: see `load_prompts`.

    Returns:
        dict `{finding: {"positive": [...], "negative": [...]}}` in the
        order of `findings`.

    Example:
    >>> pairs = prompt_pairs(["Pneumothorax", "Hilar adenopathy"])
    >>> pairs["Pneumothorax"]["negative"][0]
    'There is no pneumothorax.'
    >>> pairs["Hilar adenopathy"]["negative"][0]
    'There is no hilar adenopathy.'
    """
    if isinstance(findings, str):
        findings = [findings]
    templates, prompts = _load(source, overrides)
    out = {}
    for name in findings:
        if name in prompts:
            out[name] = prompts[name]
        else:
            out[name] = _expand(name, {"phrase": name}, templates, "templates")
    if not out:
        raise ValueError("prompt_pairs needs at least one finding")
    return out


def prompt_texts(prompts):
    """Every phrasing of a prompt set in one list, and where each lies.

    Args:
        prompts: `{finding: {"positive": [...], "negative": [...]}}` (from
            `prompt_pairs`).

    Returns:
        `(texts, spans)`: the phrasings, finding by finding (positives
        then negatives), and `{"positive": [...], "negative": [...]}`
        with each finding's `(start, stop)` in `texts`, in order.

    Example:
    >>> texts, spans = prompt_texts(
    ...     {"Edema": {"positive": ["edema"], "negative": ["no edema"]}})
    >>> texts, spans["negative"]
    (['edema', 'no edema'], [(1, 2)])
    """
    texts, spans = [], {"positive": [], "negative": []}
    for name, entry in prompts.items():
        for key in ("positive", "negative"):
            phrasings = list(entry[key])
            if not phrasings:
                raise ValueError(f"finding {name!r} has no {key} prompts")
            spans[key].append((len(texts), len(texts) + len(phrasings)))
            texts.extend(phrasings)
    return texts, spans


def _unit_rows(x):
    """`x` divided by its L2 norm along the last axis (at least 1e-12)."""
    norm = np.sqrt(np.sum(x * x, axis=-1, keepdims=True))
    return x / np.maximum(norm, 1e-12)


def ensemble_prompt_embeddings(phrasings):
    """One prompt's embedding from those of its phrasings.

    The mean of the normalised phrasing embeddings, renormalised (CLIP's
    prompt ensembling): `u = normalise(mean_p normalise(e_p))`.

    Args:
        phrasings: `(P, d)` embeddings of P phrasings of one prompt (or
            one `(d,)` embedding).

    Returns:
        float64 `(d,)` unit vector.

    Example:
    >>> ensemble_prompt_embeddings([[1.0, 0.0], [0.0, 2.0]]).round(4).tolist()
    [0.7071, 0.7071]
    """
    phrasings = np.asarray(phrasings, dtype=np.float64)
    if phrasings.ndim == 1:
        phrasings = phrasings[None, :]
    return _unit_rows(_unit_rows(phrasings).mean(axis=0))
