"""Strict reading of CSV and JSONL tables: the one home of the rules.

`clinclip prepare`, `data.load_records` and the MIMIC-CXR and CheXpert
indexers read their tables here, so they share one set of rules:

- The text is UTF-8; a byte-order mark at the start (Excel's "CSV UTF-8")
  is dropped. `.gz` files are read through gzip.
- The whole table is refused (`TableError`, naming the file and line) when
  its header cannot be read: an empty file, a header that is not UTF-8 or
  has an unclosed quote, or a column name given twice.
- Any other bad row is one `TableRow` with `error` set, naming the file,
  line and column: bytes that are not UTF-8, a quote that is opened and
  never closed, text after a closing quote, fewer or more cells than the
  header (CSV); a line that is not a JSON object (JSONL). Such a row never
  swallows the rows after it: after an unclosed quote, reading resumes on
  the next line. Quoted cells may span lines (multi-line reports).
- Blank lines are not rows; they are counted in `Table.blank_lines`.
"""

import codecs
import collections
import csv
import gzip
import hashlib
import json
import math
import pathlib
import zlib
from typing import NamedTuple

JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".json", ".ndjson", ".ndjson.gz")

# Cells as long as whole reports are fine (the csv default is 128 KiB).
csv.field_size_limit(1 << 30)


class TableError(ValueError):
    """A table that cannot be read at all; the message names the file.

    Example:
    >>> issubclass(TableError, ValueError)
    True
    """


class TableRow(NamedTuple):
    """One row of a table.

    Args:
        number: the row's 1-based position among the rows (the header and
            blank lines are not rows).
        line: the 1-based line of the file where the row starts.
        values: column name -> value (strings for CSV); for a bad row, the
            cells that could be read.
        error: None, or what is wrong, naming the file, line and column.

    Example:
    >>> TableRow(1, 2, {"id": "a"}, None).line
    2
    """

    number: int
    line: int
    values: dict
    error: object


def table_format(path, fmt="auto"):
    """`"csv"` or `"jsonl"`: `fmt`, or from the file name when `"auto"`.

    Args:
        path: the table file.
        fmt: `"auto"`, `"csv"` or `"jsonl"`.

    Example:
    >>> table_format("a/reports.jsonl.gz"), table_format("b.csv")
    ('jsonl', 'csv')
    """
    if fmt not in ("auto", "csv", "jsonl"):
        raise ValueError(f"fmt must be auto, csv or jsonl, got {fmt!r}.")
    if fmt != "auto":
        return fmt
    return "jsonl" if str(path).lower().endswith(JSONL_SUFFIXES) else "csv"


def _compressed_lines(handle, path):
    """The raw lines of `handle`; a damaged `.gz` is a `TableError`."""
    try:
        yield from handle
    except (EOFError, OSError, zlib.error) as error:
        if not str(path).endswith(".gz"):
            raise
        raise TableError(
            f"{path}: not a complete gzip file ({error}); download or "
            "compress it again, or give the uncompressed table"
        ) from None


def _decoded_lines(handle, path=""):
    """(line number, text, first bad byte offset or None) per line.

    Undecodable bytes become surrogate escapes so that the CSV parser can
    still find the row's cells; the row is then reported as an error.
    """
    lines = _compressed_lines(handle, path)
    for number, raw in enumerate(lines, start=1):
        if number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        try:
            yield number, raw.decode("utf-8"), None
        except UnicodeDecodeError as error:
            yield number, raw.decode("utf-8", "surrogateescape"), error


def _undecodable(error):
    byte = error.object[error.start]
    return (
        f"not UTF-8 (byte 0x{byte:02x} at byte {error.start + 1} of the "
        "line); save the table as UTF-8"
    )


def _clean(text):
    """Surrogate escapes (undecodable bytes) as U+FFFD."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _quote_problem(text, error):
    """(cell index, what is wrong) for the CSV `error` raised on a line."""
    cell, i, n = 0, 0, len(text.rstrip("\r\n"))
    at_start = True
    while i < n:
        char = text[i]
        if at_start and char == '"':
            i += 1
            while True:
                if i >= n:
                    return cell, (
                        "a quote is opened and never closed (a quoted cell "
                        "may span lines, but no valid row follows)"
                    )
                if text[i] == '"':
                    if i + 1 < n and text[i + 1] == '"':
                        i += 2
                        continue
                    i += 1
                    break
                i += 1
            if i < n and text[i] != ",":
                return cell, (
                    "text after the closing quote of a quoted cell (write a "
                    'quote inside a quoted cell as "")'
                )
            continue
        if char == ",":
            cell += 1
            at_start = True
        else:
            at_start = False
        i += 1
    return cell, f"the CSV reader stops here ({error})"


class Table:
    """A CSV or JSONL table opened for strict reading (see the module).

    Iterating gives `TableRow`s, in order; the file is read line by line,
    so memory stays constant. Use it as a context manager.

    Args:
        path: a `.csv`, `.jsonl` or `.json` (JSON lines) file, optionally
            `.gz`-compressed.
        fmt: `"auto"` (by extension), `"csv"` or `"jsonl"`.

    Attributes:
        columns: the CSV header (None for JSONL, whose keys vary by row).
        blank_lines: blank lines seen so far (not rows).

    Raises:
        TableError: naming the file (and line) when the header is
            unreadable; `FileNotFoundError` when the file is missing.

    Example:
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "t.csv")
    >>> _ = open(path, "wb").write(b"id,report\\na,ok\\nb\\n")
    >>> with Table(path) as table:
    ...     rows = list(table)
    >>> table.columns, rows[0].values
    (['id', 'report'], {'id': 'a', 'report': 'ok'})
    >>> rows[1].error.split(": ")[1]
    '1 cell, the header has 2 (id, report).'
    """

    def __init__(self, path, fmt="auto"):
        self.path = pathlib.Path(path)
        self.format = table_format(self.path, fmt)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: table file not found.")
        opener = gzip.open if self.path.suffix == ".gz" else open
        self._handle = opener(self.path, "rb")
        self._lines = _decoded_lines(self._handle, self.path)
        self.columns = None
        self.blank_lines = 0
        if self.format == "csv":
            try:
                self._start_csv()
            except BaseException:
                self.close()
                raise

    def close(self):
        """Close the file.

        Example:
        >>> import tempfile, os
        >>> path = os.path.join(tempfile.mkdtemp(), "t.jsonl")
        >>> _ = open(path, "w").write("")
        >>> Table(path).close()
        """
        self._handle.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __iter__(self):
        if self.format == "jsonl":
            return self._jsonl_rows()
        return self._csv_rows()

    # === JSON lines ===

    def _jsonl_rows(self):
        number = 0
        for line, text, bad in self._lines:
            if not text.strip():
                self.blank_lines += 1
                continue
            number += 1
            where = f"{self.path}, line {line}"
            if bad is not None:
                yield TableRow(
                    number, line, {}, f"{where}: {_undecodable(bad)}"
                )
                continue
            try:
                values = json.loads(text)
            except json.JSONDecodeError as error:
                yield TableRow(number, line, {}, f"{where}: bad JSON ({error})")
                continue
            if not isinstance(values, dict):
                yield TableRow(
                    number,
                    line,
                    {},
                    f"{where}: expected a JSON object, got "
                    f"{type(values).__name__}",
                )
                continue
            yield TableRow(number, line, values, None)

    # === CSV ===

    def _records(self):
        """(lines, cells or None, csv error or None) per CSV record."""
        pending = collections.deque()
        consumed = []

        def source():
            while True:
                if pending:
                    item = pending.popleft()
                else:
                    item = next(self._lines, None)
                    if item is None:
                        return
                consumed.append(item)
                yield item[1]

        reader = csv.reader(source(), strict=True)
        while True:
            consumed.clear()
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as error:
                lines = list(consumed)
                # Read again from the line after the row's first line, so
                # that an unclosed quote swallows no other row.
                pending.extendleft(reversed(lines[1:]))
                reader = csv.reader(source(), strict=True)
                yield lines[:1], None, error
                continue
            yield list(consumed), cells, None

    def _start_csv(self):
        self._csv = self._records()
        for lines, cells, error in self._csv:
            if cells == []:
                self.blank_lines += 1
                continue
            where = f"{self.path}, line {lines[0][0]}"
            bad = next((b for _, _, b in lines if b is not None), None)
            if bad is not None:
                raise TableError(f"{where}: the header is {_undecodable(bad)}.")
            if error is not None:
                _, problem = _quote_problem(lines[0][1], error)
                raise TableError(f"{where}: cannot read the header: {problem}.")
            repeated = sorted({name for name in cells if cells.count(name) > 1})
            if repeated:
                raise TableError(
                    f"{where}: the column name(s) {repeated} appear more than "
                    "once in the header."
                )
            self.columns = cells
            return
        raise TableError(f"{self.path}: the table is empty (no header line).")

    def _name(self, index):
        if index < len(self.columns):
            return repr(self.columns[index])
        return f"#{index + 1} (past the header)"

    def _csv_rows(self):
        columns = self.columns
        number = 0
        for lines, cells, error in self._csv:
            if cells == []:
                self.blank_lines += 1
                continue
            number += 1
            line, text, _ = lines[0]
            where = f"{self.path}, line {line}"
            if error is not None:
                index, problem = _quote_problem(text, error)
                partial = next(csv.reader([text.rstrip("\r\n")]), [])
                values = {
                    name: _clean(cell)
                    for name, cell in zip(columns, partial[:index])
                }
                yield TableRow(
                    number,
                    line,
                    values,
                    f"{where}, column {self._name(index)}: {problem}.",
                )
                continue
            values = {name: _clean(cell) for name, cell in zip(columns, cells)}
            bad = next(((n, b) for n, _, b in lines if b is not None), None)
            if bad is not None:
                index = next(
                    (i for i, c in enumerate(cells) if c != _clean(c)), 0
                )
                yield TableRow(
                    number,
                    line,
                    values,
                    f"{self.path}, line {bad[0]}, column {self._name(index)}:"
                    f" {_undecodable(bad[1])}.",
                )
                continue
            if len(cells) != len(columns):
                count = len(cells)
                yield TableRow(
                    number,
                    line,
                    values,
                    f"{where}: {count} cell{'s' * (count != 1)}, the header "
                    f"has {len(columns)} ({', '.join(columns)}).",
                )
                continue
            yield TableRow(number, line, values, None)


def read_rows(path):
    """Rows of a CSV (`.csv`, `.csv.gz`) or JSONL (`.jsonl`) file as dicts.

    Strict (`keras_clinclip.tables`): the first bad row (not UTF-8, an
    unclosed quote, missing or extra cells, bad JSON) raises a `ValueError`
    naming the file, line and column; a byte-order mark is dropped.

    Args:
        path: the file.

    Returns:
        `(columns, rows)`: the column names and a list of dicts.

    Example:
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "t.jsonl")
    >>> _ = open(path, "w").write('{"a": 1}\\n')
    >>> read_rows(path)
    (['a'], [{'a': 1}])
    """
    rows = []
    with Table(path) as table:
        columns = list(table.columns or [])
        for row in table:
            if row.error is not None:
                raise ValueError(row.error)
            for key in row.values:
                if key not in columns:
                    columns.append(key)
            rows.append(row.values)
    return columns, rows


def missing_columns(path, named, columns):
    """A `TableError` for options that name columns a table lacks, or None.

    Args:
        path: the table file.
        named: `(option, column)` pairs, e.g. `("--id-column", "studyid")`.
        columns: the table's columns.

    Returns:
        A `TableError` naming each missing column, its option and the
        columns there are, or None when every column is present.

    Example:
    >>> print(missing_columns("r.csv", [("--id-column", "studyid")],
    ...                       ["study_id", "report"]))
    r.csv: no column 'studyid' (--id-column); the columns are: study_id, report
    """
    missing = [
        f"{column!r} ({option})"
        for option, column in named
        if column is not None and column not in columns
    ]
    if not missing:
        return None
    return TableError(
        f"{path}: no column {', '.join(missing)}; the columns are: "
        f"{', '.join(map(str, columns)) or '(none)'}"
    )


def table_columns(path, rows=100, fmt="auto"):
    """The CSV header of a table, or the keys of its first JSONL rows.

    Args:
        path: the table file.
        rows: how many JSONL rows to look at.
        fmt: `"auto"`, `"csv"` or `"jsonl"` (see `Table`).

    Returns:
        A list of column names.

    Example:
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "t.jsonl")
    >>> _ = open(path, "w").write('{"id": 1}\\n{"id": 2, "report": "x"}\\n')
    >>> table_columns(path)
    ['id', 'report']
    """
    with Table(path, fmt) as table:
        columns = list(table.columns or [])
        if table.columns is None:
            for row, _ in zip(table, range(rows)):
                columns += [key for key in row.values if key not in columns]
    return columns


def parse_label(value, where):
    """A CheXpert label cell: 1, 0, -1, or NaN for blank.

    Args:
        value: the cell (str, number or None).
        where: `"file, row r, column c"` for the error message.

    Example:
    >>> parse_label("-1.0", "here"), math.isnan(parse_label("", "here"))
    (-1.0, True)
    """
    if value is None:
        return math.nan
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in ("", "nan", "none", "null"):
            return math.nan
        try:
            value = float(text)
        except ValueError:
            raise ValueError(
                f"{where}: label {value!r} is not a number (1, 0, -1 or blank)."
            ) from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(
            f"{where}: label {value!r} is a {type(value).__name__}, not a "
            "number (1, 0, -1 or blank)."
        )
    value = float(value)
    if not (math.isnan(value) or value in (1.0, 0.0, -1.0)):
        raise ValueError(
            f"{where}: label {value!r} is not one of 1, 0, -1 or NaN."
        )
    return value


# The split names of the records format (`keras_clinclip.data.records`).
SPLITS = ("train", "validate", "test")


def hash_split(study_id, fractions=(0.8, 0.1, 0.1)):
    """A fixed train/validate/test split from a hash of the id.

    Args:
        study_id: the study id (str).
        fractions: the shares of train, validate and test.

    Returns:
        `"train"`, `"validate"` or `"test"`; stable across runs, machines
        and Python versions (MD5 of the id).

    Example:
    >>> hash_split("CXR1") in ("train", "validate", "test")
    True
    """
    digest = hashlib.md5(str(study_id).encode("utf-8")).hexdigest()
    u = int(digest[:8], 16) / 2**32
    total = sum(fractions)
    edge = 0.0
    for name, share in zip(SPLITS, fractions):
        edge += share / total
        if u < edge:
            return name
    return SPLITS[-1]
