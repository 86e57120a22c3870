"""Localisation on SynthCXR, where the renderer knows each finding's region.

Each SynthCXR image is re-rendered with its loader's seed to recover the
exact region of every drawn finding (`SynthCXR.finding_mask`); the map of
the image with the finding's positive prompt (`evaluation.similarity_maps`)
is then scored with the pointing game and the mass inside
(`evaluation.pointing`).
"""

import numpy as np

from keras_clinclip.data.iu_xray import _study_seed
from keras_clinclip.data.synthcxr import REGION_FINDINGS
from keras_clinclip.data.synthcxr import SynthCXR
from keras_clinclip.data.synthcxr import normalize_findings
from keras_clinclip.data.templates import OBSERVATION_FINDINGS
from keras_clinclip.evaluation.pointing import localization_scores
from keras_clinclip.evaluation.pointing import pointing_game
from keras_clinclip.evaluation.similarity_maps import localization_maps
from keras_clinclip.evaluation.zero_shot import embed_prompt_pairs
from keras_clinclip.models.clinclip_prompts import ensemble_prompt_embeddings
from keras_clinclip.models.clinclip_prompts import prompt_pairs


def finding_observations():
    """SynthCXR finding -> the CheXpert observation whose prompt names it.

    Inverted from `keras_clinclip.data.templates.OBSERVATION_FINDINGS`
    (the first observation wins: consolidation -> Consolidation), for the
    findings that `SynthCXR.finding_mask` can outline.

    Example:
    >>> finding_observations()["effusion"]
    'Pleural Effusion'
    """
    out = {}
    for observation, (names, _) in OBSERVATION_FINDINGS.items():
        for name in names:
            if name in REGION_FINDINGS:
                out.setdefault(name, observation)
    return out


def _seed_candidates(records, i):
    """Render seeds to try for row i: a `seed` column, else the loaders'."""
    if "seed" in records:
        return [int(records["seed"][i])]
    key = str(records["id"][i])
    candidates = []
    parts = key.split("-")
    if len(parts) == 3 and parts[0] == "synth":  # `synthetic_pairs` ids
        seed, index = int(parts[1]), int(parts[2])
        candidates.append((seed * 1_000_003 + index) & 0x7FFFFFFF)
    candidates.append(_study_seed(key))
    return candidates


def synthcxr_cases(records, max_per_finding=None):
    """The (image, finding, region) cases of SynthCXR records.

    Each row's image is re-rendered from its `findings` column with the
    loader's seed (`synthetic_pairs`, `iu_xray`, or a `seed` column) and
    kept only when the rendering equals the stored image, so that the
    regions are exactly those of the pictures.

    Args:
        records: records with `id`, `image` (uint8 (N, H, W)) and
            `findings` (the SynthCXR findings of each image).
        max_per_finding: keep at most this many cases per finding.

    Returns:
        dict with `index` (row of each case), `finding` (SynthCXR name),
        `observation`, `mask` (bool (K, H, W)) and `skipped` (rows whose
        rendering could not be reproduced).

    Example:
    >>> from keras_clinclip.data.synthcxr import synthetic_pairs
    >>> cases = synthcxr_cases(synthetic_pairs(6, image_size=32))
    >>> cases["mask"].shape[1:], cases["skipped"]
    ((32, 32), 0)
    """
    for key in ("id", "image", "findings"):
        if key not in records:
            raise KeyError(
                f"localisation on SynthCXR needs a {key!r} column (columns:"
                f" {sorted(records)})"
            )
    images = np.asarray(records["image"])
    if images.ndim != 3:
        raise ValueError(
            f"records['image'] must be uint8 (N, H, W), got {images.shape}"
        )
    renderer = SynthCXR(images.shape[1])
    observations = finding_observations()
    out = {"index": [], "finding": [], "observation": [], "mask": []}
    counts = {}
    skipped = 0
    for i in range(len(images)):
        found = normalize_findings(records["findings"][i])
        names = [f.name for f in found if f.name in observations]
        if max_per_finding is not None:
            names = [n for n in names if counts.get(n, 0) < max_per_finding]
        if not names:
            continue
        seed = next(
            (
                s
                for s in _seed_candidates(records, i)
                if np.array_equal(renderer.render(found, seed=s), images[i])
            ),
            None,
        )
        if seed is None:
            skipped += 1
            continue
        for name in dict.fromkeys(names):
            counts[name] = counts.get(name, 0) + 1
            out["index"].append(i)
            out["finding"].append(name)
            out["observation"].append(observations[name])
            out["mask"].append(renderer.finding_mask(found, name, seed))
    size = images.shape[1:]
    out["mask"] = np.asarray(out["mask"], bool).reshape((-1,) + size)
    out["index"] = np.asarray(out["index"], np.int64)
    out["skipped"] = skipped
    return out


def evaluate_localization(
    backbone,
    preprocessor,
    records,
    prompts=None,
    tolerance=0,
    batch_size=16,
    max_per_finding=None,
    num_examples=4,
    n_bootstrap=0,
    seed=0,
):
    """Pointing game and mass inside per finding on SynthCXR records.

    Each case (an image and one of its drawn findings) gets the map of
    the image with the finding's positive prompt (its phrasings ensembled,
    as in zero-shot classification) and is scored against the drawn
    region (`synthcxr_cases`).

    Args:
        backbone: a `ClinCLIPBackbone`.
        preprocessor: its preprocessor.
        records: SynthCXR records (see `synthcxr_cases`), e.g. a test
            split.
        prompts: prompt overrides (see `clinclip_prompts.prompt_pairs`).
        tolerance: pointing-game margin in pixels.
        batch_size: images per model call.
        max_per_finding: cap on the cases per finding.
        num_examples: cases kept for the report's figure (one per
            finding first).
        n_bootstrap: resamples of the scores' intervals (0: none).
        seed: bootstrap seed.

    Returns:
        dict with `scores` (per observation and `"all"`, see
        `localization_scores`), `num_cases`, `skipped`, and `examples`
        (`images`, `maps`, `masks`, `titles` of a few cases); `None` when
        the records have no localisable finding.

    Example:
    >>> from keras_clinclip.data.synthcxr import synthetic_pairs
    >>> from keras_clinclip.models import tiny_clinclip_backbone
    >>> from keras_clinclip.models import tiny_clinclip_preprocessor
    >>> result = evaluate_localization(
    ...     tiny_clinclip_backbone(), tiny_clinclip_preprocessor(),
    ...     synthetic_pairs(8, image_size=32))
    >>> 0.0 <= result["scores"]["all"]["pointing"] <= 1.0
    True
    """
    cases = synthcxr_cases(records, max_per_finding)
    if not len(cases["index"]):
        return None
    observations = list(dict.fromkeys(cases["observation"]))
    _, positives, _ = embed_prompt_pairs(
        backbone,
        preprocessor,
        prompt_pairs(observations, overrides=prompts),
        batch_size,
    )
    text_of = {
        name: ensemble_prompt_embeddings(p)
        for name, p in zip(observations, positives)
    }
    images = np.asarray(records["image"])[cases["index"]]
    texts = np.stack([text_of[o] for o in cases["observation"]])
    maps = localization_maps(
        backbone, preprocessor, images, texts, batch_size=batch_size
    )["maps"]
    scores = localization_scores(
        maps,
        cases["mask"],
        cases["observation"],
        tolerance,
        n_bootstrap=n_bootstrap,
        seed=seed,
    )
    # Figure: the first case of each finding, then the next ones.
    first = list(dict.fromkeys(cases["observation"]))
    picks = [cases["observation"].index(o) for o in first]
    picks += [k for k in range(len(images)) if k not in picks]
    picks = picks[:num_examples]
    hits = pointing_game(maps, cases["mask"], tolerance)
    return {
        "scores": scores,
        "num_cases": int(len(images)),
        "skipped": cases["skipped"],
        "tolerance": int(tolerance),
        "examples": {
            "images": images[picks],
            "maps": maps[picks],
            "masks": cases["mask"][picks],
            "titles": [
                f"{cases['observation'][k]} ({'hit' if hits[k] else 'miss'})"
                for k in picks
            ],
        },
    }
