"""The table and figures of `clinclip benchmark` (`evaluation.benchmark`).

`format_benchmark_table` lays the rows of `run_benchmark` out as the
papers do (rows: dataset x protocol; columns: metrics, each `value [95%
CI]`); `write_benchmark` writes it as `benchmark.md` and `benchmark.json`
with ROC, reliability and localisation figures.
"""

import json
import pathlib

import numpy as np

from keras_clinclip.evaluation import plots
from keras_clinclip.evaluation.similarity_maps import upsample_map


def _finite(value):
    """JSON-ready: NaN/inf become null (benchmark rows hold plain floats)."""
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _cell(cell, digits=3):
    value = cell.get("value", float("nan"))
    if value is None or not np.isfinite(value):
        return "n/a"
    low, high = cell.get("ci", [float("nan")] * 2)
    if np.isfinite(low) and np.isfinite(high):
        return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"
    return f"{value:.{digits}f}"


def format_benchmark_table(rows):
    """One Markdown table: rows dataset x protocol, columns metrics.

    Args:
        rows: the `"rows"` of `run_benchmark`.

    Returns:
        Markdown; cells are `value [95% CI]`, `-` where a metric does not
        apply.

    Example:
    >>> print(format_benchmark_table([{"dataset": "rsna", "protocol":
    ...     "zero-shot binary", "metrics": {"AUROC": {"value": 0.5,
    ...     "ci": [0.4, 0.6]}}}]))
    | dataset | protocol | AUROC |
    |---|---|---|
    | rsna | zero-shot binary | 0.500 [0.400, 0.600] |
    """
    columns = []
    for row in rows:
        for key in row["metrics"]:
            if key not in columns:
                columns.append(key)
    lines = [
        "| dataset | protocol | " + " | ".join(columns) + " |",
        "|---|---|" + "---|" * len(columns),
    ]
    for row in rows:
        cells = [
            _cell(row["metrics"][c]) if c in row["metrics"] else "-"
            for c in columns
        ]
        lines.append(
            f"| {row['dataset']} | {row['protocol']} | "
            + " | ".join(cells)
            + " |"
        )
    return "\n".join(lines)


def write_benchmark(
    output_dir, result, title="keras_clinclip benchmark", figures=True
):
    """Write `benchmark.md`, `benchmark.json` and the figures.

    Args:
        output_dir: the folder (created).
        result: a `run_benchmark` result.
        title: the Markdown title.
        figures: draw ROC, reliability and localisation PNGs.

    Returns:
        the `pathlib.Path` of `benchmark.md`.

    Example:
    >>> import tempfile
    >>> rows = [{"dataset": "rsna", "protocol": "zero-shot binary",
    ...          "metrics": {"AUROC": {"value": 0.5, "ci": [0.4, 0.6]}}}]
    >>> path = write_benchmark(tempfile.mkdtemp(), {"rows": rows,
    ...     "errors": {"siim": "FileNotFoundError"}, "extras": {}})
    >>> "## Failed datasets" in path.read_text()
    True
    """
    out = pathlib.Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    lines = [f"# {title}", "", format_benchmark_table(result["rows"]), ""]
    lines += ["Sources of each protocol:", ""]
    seen = set()
    for row in result["rows"]:
        if row["protocol"] not in seen and row.get("source"):
            seen.add(row["protocol"])
            lines.append(f"- {row['protocol']}: {row['source']}")
    lines.append("")
    if result["errors"]:
        lines += ["## Failed datasets", ""]
        lines += [f"- {n}: {m}" for n, m in result["errors"].items()]
        lines.append("")
    for name, extras in result["extras"].items() if figures else ():
        slug = "".join(c if c.isalnum() else "_" for c in name)
        if "roc" in extras:
            labels, scores, names = extras["roc"]
            plots.plot_roc_curves(
                labels, scores, names, out / f"{slug}_roc.png"
            )
            lines.append(f"![{name} ROC]({slug}_roc.png)")
        if extras.get("reliability"):
            plots.plot_reliability_diagram(
                extras["reliability"],
                out / f"{slug}_reliability.png",
                title=f"{name}: reliability after temperature scaling",
            )
            lines.append(f"![{name} reliability]({slug}_reliability.png)")
        if extras.get("localization"):
            shown = extras["localization"]
            # The maps and regions are on the localisation grid; show them
            # at the images' own size (the model's input size).
            size = np.asarray(shown["images"]).shape[1:3]
            plots.plot_localization_maps(
                shown["images"],
                upsample_map(shown["maps"], size),
                upsample_map(np.asarray(shown["masks"], float), size) > 0.5,
                path=out / f"{slug}_localization.png",
            )
            lines.append(f"![{name} localisation]({slug}_localization.png)")
    path = out / "benchmark.md"
    path.write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    payload = {"rows": result["rows"], "errors": result["errors"]}
    (out / "benchmark.json").write_text(
        json.dumps(_finite(payload), indent=2), encoding="utf-8"
    )
    return path
