"""`NegationOptions`: the negated-report stage of `make_dataset`."""

import dataclasses
from collections.abc import Sequence

from keras_clinclip.data.truncation import TRUNCATION_MODES


@dataclasses.dataclass(frozen=True)
class NegationOptions:
    """How `make_dataset` reads, cuts and batches the negated reports.

    Args:
        count: K, negated reports per study (padded with masked empty
            strings). `None` (default): the records' K (the width of
            `negation_labels`, else the longest `negations` list, at
            least 1), 0 without negations; 0 leaves them out.
        truncation: `"negation_aware"` (default): a report longer than the
            preprocessor's `sequence_length` and its negations are cut the
            same way, keeping the negated sentences (needs a preprocessor
            with `tokenizer` and `sequence_length`, such as
            `ClinCLIPPreprocessor`; others are left to their `tokenize`);
            `"end"`: `tokenize` cuts the end of every text.
        balance: spread the studies with negations evenly over each pass,
            so that every batch (and every consecutive slice of one) holds
            its share of each valid-slot count to within one (K = 1) or
            two (`keras_clinclip.data.balance`); the order within each
            stratum is still reshuffled every pass. Default False.
        mask_input: also give `x["negation_mask"]` (B, K), the input of a
            `ClinCLIPBackbone` with a `negation_capacity`. Default False.
        families: rewrite `negations` from `negated_findings` with these
            families in turn (`reports.family_negations`). Default None
            (the records' own negations).

    Example:
    >>> NegationOptions(count=2, balance=True).truncation
    'negation_aware'
    """

    count: int | None = None
    truncation: str = "negation_aware"
    balance: bool = False
    mask_input: bool = False
    families: Sequence[str] | None = None

    def __post_init__(self):
        if self.truncation not in TRUNCATION_MODES:
            raise ValueError(
                f"truncation must be one of {TRUNCATION_MODES}, got "
                f"{self.truncation!r}."
            )
        if self.count is not None and int(self.count) < 0:
            raise ValueError(f"count must be >= 0, got {self.count}.")
