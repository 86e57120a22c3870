"""One resolver of dataset strings: every command and config reads data here.

`clinclip train --dataset`, `clinclip evaluate --data`, `clinclip demo`,
the recipes and `TrainingConfig.dataset` accept the same strings:

- `iu` (alias `iu_xray`): the IU reports with SynthCXR images;
- `synthetic` or `synthetic:N`: N template pairs;
- `NAME:ROOT`: a registered dataset in its published layout under ROOT,
  e.g. `mimic-cxr:/data/mimic-cxr-jpg/2.0.0` or
  `chexpert:/data/CheXpert-v1.0-small` (the names: `DATASETS`);
- a path: `.npz` (saved records), `.csv`, `.csv.gz`, `.jsonl` (a table of
  `image_path,report`, optional label columns, or the output of
  `clinclip prepare`, read as is).

Options follow a `?`, as `key=value` pairs joined by `&`; list values are
comma-separated:

    mimic-cxr:/data/mimic?views=PA,AP&images=all&labels=negbio&split=train
    reports.csv?image_column=file&report_column=text&image_root=/images

Every source of reports gets the whole method: `load_source` adds the
labeler's labels where the source has none, the negated and omitted
variants and the report graphs (`prepared_text.add_text_columns`: once,
cached, in parallel), and says where the labels came from.

The registry's contract, for a new dataset (one line each):

    register("rsna", rsna_loader, "RSNA Pneumonia (stage 2 train)")

`loader(root, **options)` gets ROOT as a `pathlib.Path` and the options of
the string as `str` values (convert them with `as_list`/`as_int`); it may
also declare `num_negations`, `seed` and `image_size` parameters, which
`load_source` fills from the run. It returns a records dict (see
`records`): `id`, `image_path` (never decoded images), `report`, `labels`
(float32 (N, 14), NaN where the dataset has none) and `split`; any
`negations`/graph columns it returns are kept. An unknown option is a
one-line error listing the loader's parameters.
"""

import dataclasses
import inspect
import pathlib
import sys
import urllib.parse

import numpy as np

from keras_clinclip.data import csv
from keras_clinclip.data import datasets
from keras_clinclip.data import synthcxr
from keras_clinclip.data.chexpert_dataset import chexpert
from keras_clinclip.data.iu_xray import iu_xray
from keras_clinclip.data.mimic_cxr import find_table
from keras_clinclip.data.mimic_cxr import mimic_cxr
from keras_clinclip.data.prepared_text import LABEL_CHOICES
from keras_clinclip.data.prepared_text import add_text_columns
from keras_clinclip.data.prepared_text import is_prepared
from keras_clinclip.data.prepared_text import read_prepared

NAMES = ("iu", "iu_xray", "synthetic", "synthetic:N")
TABLE_SUFFIXES = (".csv", ".jsonl", ".json", ".gz")
_REQUIRED = ("id", "report", "labels")
# Options of a table path (`reports.csv?image_column=...`).
TABLE_OPTIONS = (
    "image_column",
    "report_column",
    "image_root",
    "id_column",
    "split_column",
    "labels",
)
# Parameters `load_source` fills from the run when a loader declares them.
_CONTEXT = ("num_negations", "seed", "image_size")


class DatasetSpecError(ValueError):
    """A dataset string that names no dataset, file or valid option.

    Its message is one line naming the string and the accepted forms;
    `clinclip` reports it as a user error (exit status 2).

    Example:
    >>> issubclass(DatasetSpecError, ValueError)
    True
    """


@dataclasses.dataclass(frozen=True)
class Dataset:
    """A registered dataset: its loader and a one-line description.

    Args:
        loader: `loader(root, **options)` (see the module docstring).
        description: one line for messages and docs.
        prepare_text: run the report toolkit on its reports (labels,
            negations, graphs); False for the evaluation datasets, whose
            records are used as their loaders return them.

    Example:
    >>> DATASETS["mimic-cxr"].description.split(" (")[0]
    'MIMIC-CXR-JPG 2.0.0'
    """

    loader: object
    description: str
    prepare_text: bool = True


DATASETS = {}


def register(name, loader, description, prepare_text=True):
    """Make `NAME:ROOT` load with `loader(root, **options)`.

    Args:
        name: the dataset name (lower case, e.g. `"mimic-cxr"`).
        loader: a callable following the module's contract.
        description: one line for `--help` and error messages.
        prepare_text: whether `load_source` adds the report toolkit's
            columns (False: the records are used as the loader returns
            them, as for the evaluation datasets of `data.datasets`).

    Example:
    >>> register("tiny-demo", lambda root: {}, "an example")
    >>> DATASETS["tiny-demo"].description
    'an example'
    >>> del DATASETS["tiny-demo"]
    """
    DATASETS[str(name)] = Dataset(loader, str(description), prepare_text)


def as_list(value):
    """A comma-separated option as a tuple of stripped, non-empty items.

    Example:
    >>> as_list("PA, AP"), as_list(("x",))
    (('PA', 'AP'), ('x',))
    """
    if isinstance(value, (list, tuple)):
        return tuple(value)
    return tuple(item.strip() for item in str(value).split(",") if item.strip())


def as_int(value, name):
    """An integer option, or a one-line error naming it.

    Example:
    >>> as_int("3", "count")
    3
    """
    try:
        return int(value)
    except (TypeError, ValueError):
        raise DatasetSpecError(
            f"dataset option {name}={value!r} is not an integer"
        ) from None


def accepted_forms():
    """The accepted dataset strings, for error messages and `--help`.

    Example:
    >>> "mimic-cxr:ROOT" in accepted_forms()
    True
    """
    named = ", ".join(f"{name}:ROOT" for name in DATASETS)
    return (
        f"iu, synthetic[:N], {named}, or a .csv/.csv.gz/.jsonl/.npz file "
        "(options after '?': key=value&key=value)"
    )


def parse_spec(spec):
    """Split a dataset string into `(kind, target, options)`.

    Args:
        spec: a dataset string (see the module docstring).

    Returns:
        `kind` is `"iu"`, `"synthetic"`, a registered name or `"file"`;
        `target` is N (int or None), ROOT or the path; `options` a dict.

    Example:
    >>> parse_spec("mimic-cxr:/data/m?views=PA&images=all")
    ('mimic-cxr', '/data/m', {'views': 'PA', 'images': 'all'})
    >>> parse_spec("synthetic:8")
    ('synthetic', 8, {})
    """
    text = str(spec).strip()
    body, _, query = text.partition("?")
    options = {}
    for pair in filter(None, query.split("&")):
        key, equal, value = pair.partition("=")
        if not equal or not key.strip():
            raise DatasetSpecError(
                f"dataset {text!r}: option {pair!r} is not key=value"
            )
        options[key.strip()] = urllib.parse.unquote(value.strip())
    if body in ("iu", "iu_xray"):
        return "iu", None, options
    name, colon, rest = body.partition(":")
    if name == "synthetic":
        if colon and not rest.isdigit():
            raise DatasetSpecError(
                f"dataset {text!r}: N of synthetic:N must be a number"
            )
        return "synthetic", int(rest) if colon else None, options
    if colon and name in DATASETS:
        if not rest:
            raise DatasetSpecError(
                f"dataset {text!r}: give the folder, e.g. {name}:/data/{name}"
            )
        return name, rest, options
    if colon and len(name) > 1 and not pathlib.Path(body).exists():
        raise DatasetSpecError(
            f"unknown dataset {name!r} in {text!r}; accepted: "
            f"{accepted_forms()}"
        )
    return "file", body, options


def check_spec(spec):
    """Raise `DatasetSpecError` (one line) for a string that cannot load.

    Checks the name, that ROOT or the file exists and the option names,
    without reading the data.

    Example:
    >>> check_spec("synthetic:4")
    >>> try:
    ...     check_spec("mimic-cxr:/nonexistent")
    ... except DatasetSpecError as error:
    ...     print(str(error)[:52])
    dataset 'mimic-cxr:/nonexistent': no folder /nonexis
    """
    kind, target, options = parse_spec(spec)
    if kind in ("iu", "synthetic"):
        return
    if kind == "file":
        path = pathlib.Path(target)
        if not path.exists():
            raise DatasetSpecError(
                f"dataset {str(spec)!r} is no existing file or known name; "
                f"accepted: {accepted_forms()}"
            )
        if path.suffix not in (".npz", *TABLE_SUFFIXES):
            raise DatasetSpecError(
                f"dataset {str(spec)!r}: unknown file type {path.suffix!r} "
                "(use .npz, .csv, .csv.gz or .jsonl)"
            )
        allowed = () if path.suffix == ".npz" else TABLE_OPTIONS
        _check_options(spec, options, allowed)
        return
    if not pathlib.Path(target).is_dir():
        raise DatasetSpecError(
            f"dataset {str(spec)!r}: no folder {target}; accepted: "
            f"{accepted_forms()}"
        )
    _check_options(spec, options, _loader_options(DATASETS[kind].loader))


def _loader_options(loader):
    names = list(inspect.signature(loader).parameters)[1:]
    return tuple(n for n in names if n not in _CONTEXT)


def _check_options(spec, options, allowed):
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise DatasetSpecError(
            f"dataset {str(spec)!r}: unknown option {unknown[0]!r}; "
            f"accepted: {', '.join(allowed) or 'none'}"
        )


def read_npz(path):
    """Records saved with `numpy.savez` (one array per column).

    Args:
        path: a `.npz` file with at least `id`, `report` and `labels`.

    Returns:
        A records dict; string arrays become lists of `str`.

    Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "r.npz")
    >>> np.savez(path, id=["1"], report=["Clear."], labels=np.zeros((1, 14)))
    >>> read_npz(path)["report"]
    ['Clear.']
    """
    path = pathlib.Path(path)
    records = {}
    with np.load(path, allow_pickle=False) as arrays:
        for key in arrays.files:
            value = arrays[key]
            records[key] = (
                [str(v) for v in value] if value.dtype.kind in "US" else value
            )
    missing = [key for key in _REQUIRED if key not in records]
    if missing:
        raise KeyError(
            f"{path}: the records file has no {missing[0]!r} array "
            f"(arrays: {sorted(records)})"
        )
    return records


def load_source(
    source,
    image_size=224,
    seed=0,
    count=None,
    num_negations=None,
    graphs=True,
    on_error="raise",
    table_options=None,
    verbose=True,
    error_log=None,
):
    """The records of a dataset string (see the module docstring).

    Args:
        source: a dataset string: `iu`, `synthetic[:N]`, `NAME:ROOT` or a
            `.npz`/`.csv`/`.csv.gz`/`.jsonl` path, with `?key=value`
            options.
        image_size: the side of rendered images (`iu`, `synthetic`).
        seed: the seed of synthetic data.
        count: `iu`: keep the first `count` reports (`limit=`);
            `synthetic` without `:N`: the number of pairs (default 512).
        num_negations: negated variants per report; None: the loader's
            default (2 for `iu`, 1 otherwise).
        graphs: add the report graph arrays.
        on_error: for a table, `"raise"` on a bad row or `"skip"` it.
        table_options: defaults of the table options (`TABLE_OPTIONS`,
            e.g. from `--image-column`); the string's own options win.
        verbose: print where the labels came from and the negation count
            (one line on stderr) for a source of reports.
        error_log: optional `ErrorLog` that counts a table's skipped rows.

    Returns:
        A records dict.

    Example:
    >>> load_source("synthetic:3", image_size=32)["image"].shape
    (3, 32, 32)
    """
    kind, target, options = parse_spec(source)
    variants = {} if num_negations is None else {"num_negations": num_negations}
    if kind == "iu":
        _check_options(source, options, ())
        return iu_xray(
            image_size=image_size, limit=count, graphs=graphs, **variants
        )
    if kind == "synthetic":
        _check_options(source, options, ())
        return synthcxr.synthetic_pairs(
            target or count or 512,
            seed=seed,
            image_size=max(int(image_size), 32),
            graphs=graphs,
            **variants,
        )
    check_spec(source)
    path = pathlib.Path(target)
    if kind == "file" and path.suffix == ".npz":
        return read_npz(path)
    labels = "auto"
    if kind == "file" and is_prepared(path):
        _check_options(source, options, ())
        records, summary = read_prepared(
            path, num_negations or 1, graphs, on_error=on_error
        )
        if verbose:
            print(f"{source}: {summary}", file=sys.stderr, flush=True)
        return records
    if kind == "file":
        merged = {k: v for k, v in (table_options or {}).items() if v}
        merged.update(options)
        labels = merged.pop("labels", "auto")
        records = csv.load_records(
            path, on_error=on_error, error_log=error_log, **merged
        )
    else:
        loader = DATASETS[kind].loader
        context = {"seed": seed, "image_size": image_size, **variants}
        accepted = inspect.signature(loader).parameters
        context = {k: v for k, v in context.items() if k in accepted}
        records = loader(path, **options, **context)
        if not DATASETS[kind].prepare_text:
            return records
    if labels not in LABEL_CHOICES:
        raise DatasetSpecError(
            f"dataset {str(source)!r}: labels={labels!r}; use one of "
            f"{', '.join(LABEL_CHOICES)}"
        )
    records, summary = add_text_columns(
        records,
        num_negations=num_negations or 1,
        graphs=graphs,
        labels=labels,
        progress=verbose,
    )
    if verbose:
        print(f"{source}: {summary}", file=sys.stderr, flush=True)
    return records


def _mimic(
    root,
    views="PA,AP",
    images="one",
    split="train,validate,test",
    labels="auto",
    sections="findings,impression",
    reports=None,
    image_format="auto",
):
    if images not in ("one", "all"):
        raise DatasetSpecError(f"mimic-cxr: images={images!r}; use one or all")
    return mimic_cxr(
        root,
        views=()
        if views == "all"
        else tuple(v.upper() for v in as_list(views)),
        splits=as_list(split),
        image_format=image_format,
        reports=reports,
        sections=as_list(sections),
        one_image_per_study=images == "one",
        labels=_mimic_labels(root, labels),
    )


def _mimic_labels(root, labels):
    """The table to read; the labeler's labels come from `load_source`."""
    tables = [n for n in ("chexpert", "negbio") if find_table(root, n)]
    if labels == "labeler" or (labels == "auto" and not tables):
        return "none"
    return labels


def _chexpert(
    root, split="train,validate,test", views="frontal", num_negations=1, seed=0
):
    if views not in ("frontal", "all"):
        raise DatasetSpecError(f"chexpert: views={views!r}; use frontal or all")
    return chexpert(
        root,
        splits=as_list(split),
        frontal_only=views == "frontal",
        num_negations=max(int(num_negations), 1),
        seed=seed,
    )


register(
    "mimic-cxr",
    _mimic,
    "MIMIC-CXR-JPG 2.0.0 (or the DICOM release): views, images=one|all, "
    "split, labels=auto|chexpert|negbio|labeler, sections, reports, "
    "image_format",
)
register(
    "chexpert",
    _chexpert,
    "CheXpert-v1.0 or -small (train.csv, valid.csv): split, views=frontal|all",
)
# The field's evaluation datasets (`data.datasets`): `rsna:ROOT`, ...
for _name, _loader in datasets.LOADERS.items():
    register(_name, _loader, datasets.DESCRIPTIONS[_name], prepare_text=False)
