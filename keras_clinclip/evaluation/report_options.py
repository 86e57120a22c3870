"""`ReportOptions`: where and how `evaluate_records` writes its report."""

import dataclasses


@dataclasses.dataclass(frozen=True)
class ReportOptions:
    """The Markdown report of an `evaluate_records` run.

    Args:
        output_dir: write `report.md`, figures and `results.json` there.
        history: training history for the report's curves (default
            `None`).
        title: the report's title (default `"keras_clinclip
            evaluation"`).
        notes: Markdown notes for the report (default `None`).
        figures: draw figures in the report (default True).

    Example:
    >>> ReportOptions("eval_out", figures=False).title
    'keras_clinclip evaluation'
    """

    output_dir: str
    history: dict | None = None
    title: str = "keras_clinclip evaluation"
    notes: str | None = None
    figures: bool = True
