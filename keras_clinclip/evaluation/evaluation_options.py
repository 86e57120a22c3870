"""`EvaluationOptions`: the settings of `evaluate_records`, by section."""

import dataclasses
from collections.abc import Sequence


@dataclasses.dataclass(frozen=True)
class EvaluationOptions:
    """What `evaluate_records` evaluates, and how.

    The fields are grouped by the section that reads them: the splits,
    zero-shot (with its clinical metrics and calibration), retrieval,
    CXR-Align, the linear probe, localisation, and the run itself.

    Args:
        split: the evaluation split (default `"test"`; `None` for every
            row).
        validation_split: the split whose zero-shot scores choose the
            operating points' thresholds and fit the temperature
            (default `"validate"`; `None`, or a split without rows:
            chosen on the test split, which flatters them).
        train_split: the linear probe's training split (default
            `"train"`; `None` skips the probe).
        findings: the label columns' names (default `None`: the 14
            CheXpert observations); zero-shot runs on these.
        prompts: prompt overrides (see `clinclip_prompts.prompt_pairs`;
            default `None`).
        uncertain: -1 label handling (default `"exclude"`; see
            `metrics.binarize_labels`).
        blank: NaN label handling (default `"negative"`).
        specificity: the target of the fixed-specificity operating point
            (default 0.9).
        calibration_bins: bins of the calibration error and diagram
            (default 10).
        ks: Recall@K cut-offs of retrieval (default `(1, 5, 10)`).
        cxr_align: a CXR-Align dict or JSON path (default `None`: built
            from the records' `negations`/`omissions` when present).
        probe_fractions: the linear probe's training fractions (default
            `(0.01, 0.1, 1.0)`; empty skips it).
        localization: `"auto"` (default: pointing game when the records
            carry SynthCXR `findings`), `True` or `False`.
        n_bootstrap: bootstrap resamples for the intervals (default 1000).
        seed: bootstrap and probe seed (default 0).
        batch_size: model batch size (default 32).
        progress: show Keras progress bars (default False).

    Example:
    >>> EvaluationOptions(n_bootstrap=0).split
    'test'
    """

    split: str | None = "test"
    validation_split: str | None = "validate"
    train_split: str | None = "train"
    findings: Sequence[str] | None = None
    prompts: dict | None = None
    uncertain: str = "exclude"
    blank: str = "negative"
    specificity: float = 0.9
    calibration_bins: int = 10
    ks: Sequence[int] = (1, 5, 10)
    cxr_align: dict | str | None = None
    probe_fractions: Sequence[float] = (0.01, 0.1, 1.0)
    localization: bool | str = "auto"
    n_bootstrap: int = 1000
    seed: int = 0
    batch_size: int = 32
    progress: bool = False
