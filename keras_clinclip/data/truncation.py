"""Negation-aware truncation: cut a report and its variants the same way.

A negated (or omitted) report is a hard negative only if the model sees
the edit. When a report is longer than the token budget, cutting its end
can cut the edited sentence away, and the report and its variant then
reach the model as the same tokens. The rule here (applied by
`make_dataset` and `evaluate_cxr_align`) is:

1. The report and each variant are split into sentences
   (`keras_clinclip.reports.sentence_spans`), and each variant is aligned
   with the report sentence by sentence (`difflib`); the sentences where
   a variant differs (replaced, dropped or added) are its **edit**. Report
   sentences that one edit replaces together stay together.
2. When the report and every variant fit the budget, nothing changes.
   Otherwise sentences are chosen greedily, in this order, each one kept
   only if the report and every variant still fit: the edits (of the
   first variant, then the next, ...); then the other sentences of the
   FINDINGS and IMPRESSION sections (or of a report without section
   headings) in report order; then the remaining sentences in report
   order.
3. The kept sentences are joined with single spaces in report order
   (section headings are dropped), and every variant is built from the
   same kept sentences with its edit in place: the only difference
   between the report and a variant is the edit.
4. An edit that does not fit even alone is kept alone: the packer then
   cuts its end, and the report and variant may still collide (the
   collision guard of `make_dataset` and `evaluate_cxr_align` masks or
   excludes them).

Token counts come from the preprocessor's own tokenizer (WordPiece), so
the budget is exact: `sequence_length - 2` (`[CLS]` and `[SEP]`).
"""

import difflib
import weakref

import numpy as np

from keras_clinclip.reports.sections import _CANONICAL
from keras_clinclip.reports.sections import _HEADING
from keras_clinclip.reports.sections import BODY_SECTIONS
from keras_clinclip.reports.sentences import sentence_spans

TRUNCATION_MODES = ("negation_aware", "end")


def _sentences(text):
    """The sentences of `text` and whether each lies in the report body."""
    spans = sentence_spans(text)
    headings = list(_HEADING.finditer(text))
    if not headings:
        return [text[a:b] for a, b in spans], [True] * len(spans)
    body = []
    for a, _ in spans:
        before = [m for m in headings if m.end() <= a]
        if not before:
            body.append(False)  # text before the first heading
            continue
        name = " ".join(before[-1].group().strip().rstrip(":").upper().split())
        body.append(_CANONICAL.get(name, name) in BODY_SECTIONS)
    return [text[a:b] for a, b in spans], body


def _components(size, blocks):
    """Groups of report sentences that an edit replaces together."""
    parent = list(range(size))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i1, i2 in blocks:
        for i in range(i1 + 1, i2):
            parent[find(i)] = find(i1)
    return [find(i) for i in range(size)]


class _Group:
    """A report and its variants as sentences, aligned edit by edit."""

    def __init__(self, report, variants):
        self.report, body = _sentences(report)
        self.variants = [_sentences(v)[0] for v in variants]
        self.opcodes = [
            difflib.SequenceMatcher(
                None, self.report, sentences, autojunk=False
            ).get_opcodes()
            for sentences in self.variants
        ]
        blocks = [
            (i1, i2)
            for ops in self.opcodes
            for tag, i1, i2, _, _ in ops
            if tag in ("replace", "delete")
        ]
        root = _components(len(self.report), blocks)
        members = {}
        for i, r in enumerate(root):
            members.setdefault(r, []).append(i)
        # Units: ("r", root) a group of report sentences; ("i", k, index)
        # the sentences a variant k inserts at its opcode `index`.
        edits = []
        for k, ops in enumerate(self.opcodes):
            for index, (tag, i1, _, _, _) in enumerate(ops):
                unit = ("i", k, index) if tag == "insert" else ("r", root[i1])
                if tag != "equal" and unit not in edits:
                    edits.append(unit)
        rest = [("r", r) for r in dict.fromkeys(root) if ("r", r) not in edits]
        rest.sort(key=lambda unit: (not body[members[unit[1]][0]], unit[1]))
        self.edits = edits
        self.order = edits + rest
        self.root = root

    def texts(self, chosen):
        """The report and variants built from the `chosen` units."""
        report = [s for i, s in enumerate(self.report) if self._has(chosen, i)]
        variants = []
        for k, ops in enumerate(self.opcodes):
            kept = []
            for index, (tag, i1, i2, j1, j2) in enumerate(ops):
                if tag == "equal":
                    kept.extend(
                        self.variants[k][j1 + i - i1]
                        for i in range(i1, i2)
                        if self._has(chosen, i)
                    )
                elif tag == "insert":
                    if ("i", k, index) in chosen:
                        kept.extend(self.variants[k][j1:j2])
                elif self._has(chosen, i1):  # the block is one unit
                    kept.extend(self.variants[k][j1:j2])
            variants.append(kept)
        return report, variants

    def _has(self, chosen, i):
        return ("r", self.root[i]) in chosen

    def all_sentences(self):
        return self.report + [s for v in self.variants for s in v]


def _length(sentences, counts):
    return sum(counts[s] for s in sentences)


def _select(group, counts, budget):
    chosen = set()
    for unit in group.order:
        trial = chosen | {unit}
        report, variants = group.texts(trial)
        lengths = [_length(t, counts) for t in [report, *variants]]
        if max(lengths) <= budget:
            chosen = trial
        elif not chosen and unit in group.edits:
            # Too long even alone: keep it alone and let the packer cut
            # its end (an added sentence alone would leave no report).
            return {unit} if unit[0] == "r" else None
    return chosen


def truncate_variants(report, variants, count_tokens, budget):
    """Cut a report and its variants so that their edits survive.

    See the module docstring for the rule.

    Args:
        report: the report text.
        variants: a list of variant texts (negated, omitted reports).
        count_tokens: a function from a list of strings to their numbers
            of tokens (e.g. `token_counter(preprocessor)[0]`).
        budget: the number of tokens a text may have.

    Returns:
        `(report, variants)`: the texts unchanged when all of them fit the
        budget (or no variant differs from the report), else the cut texts.

    Example:
    >>> words = lambda texts: [len(t.split()) for t in texts]
    >>> report = "Heart size is normal. Lungs are clear. Small effusion."
    >>> negated = "Heart size is normal. Lungs are clear. No effusion."
    >>> cut_report, (cut_negated,) = truncate_variants(
    ...     report, [negated], words, 6)
    >>> cut_report
    'Heart size is normal. Small effusion.'
    >>> cut_negated
    'Heart size is normal. No effusion.'
    """
    return truncate_groups([(report, list(variants))], count_tokens, budget)[0]


def truncate_groups(groups, count_tokens, budget):
    """`truncate_variants` over many groups, counting tokens in batches.

    Args:
        groups: a list of `(report, [variant, ...])`.
        count_tokens: a function from a list of strings to their numbers
            of tokens.
        budget: the number of tokens a text may have.

    Returns:
        A list of `(report, [variant, ...])`, in the order of `groups`.

    Example:
    >>> words = lambda texts: [len(t.split()) for t in texts]
    >>> truncate_groups([("A b. C d.", ["A b. No c d."]), ("A.", [])],
    ...                 words, 3)
    [('C d.', ['No c d.']), ('A.', [])]
    """
    budget = int(budget)
    if budget < 1:
        raise ValueError(f"the token budget must be at least 1, got {budget}")
    groups = [(str(r), [str(v) for v in vs]) for r, vs in groups]
    texts = list(dict.fromkeys(t for r, vs in groups for t in [r, *vs]))
    counts = dict(zip(texts, _counted(count_tokens, texts)))
    todo = [
        index
        for index, (report, variants) in enumerate(groups)
        if variants
        and any(v != report for v in variants)
        and max(counts[t] for t in [report, *variants]) > budget
    ]
    split = {index: _Group(*groups[index]) for index in todo}
    sentences = {s for g in split.values() for s in g.all_sentences()}
    sentences = [s for s in dict.fromkeys(sorted(sentences))]
    counts = dict(zip(sentences, _counted(count_tokens, sentences)))
    out = list(groups)
    for index, group in split.items():
        chosen = _select(group, counts, budget)
        if chosen is None:
            continue
        report, variants = group.texts(chosen)
        if report:
            out[index] = (" ".join(report), [" ".join(v) for v in variants])
    return out


def _counted(count_tokens, texts):
    if not texts:
        return []
    counts = [int(c) for c in count_tokens(list(texts))]
    if len(counts) != len(texts):
        raise ValueError(
            f"count_tokens returned {len(counts)} counts for {len(texts)} texts"
        )
    return counts


def token_counter(preprocessor, batch_size=4096):
    """The token counter and budget of a preprocessor, or None.

    A preprocessor with a `tokenizer` (a KerasHub tokenizer returning
    ragged token ids, such as `ClinCLIPPreprocessor`'s WordPiece) and a
    `sequence_length` counts tokens exactly as its `tokenize` does before
    packing; the budget leaves room for the start and end tokens. Other
    preprocessors return None (no negation-aware truncation).

    Args:
        preprocessor: e.g. a `ClinCLIPPreprocessor`.
        batch_size: texts per tokenizer call.

    Returns:
        `(count_tokens, budget)` or None; `count_tokens(texts)` returns an
        int numpy array.

    Example:
    >>> from keras_clinclip.models import tiny_clinclip_preprocessor
    >>> count, budget = token_counter(tiny_clinclip_preprocessor(8))
    >>> [int(c) for c in count(["no effusion .", "small left effusion"])]
    [3, 3]
    >>> budget
    6
    """
    tokenizer = getattr(preprocessor, "tokenizer", None)
    length = getattr(preprocessor, "sequence_length", None)
    if tokenizer is None or not callable(tokenizer) or length is None:
        return None
    if tokenizer not in _LENGTHS:
        _LENGTHS[tokenizer] = _lengths_function(tokenizer)
    lengths = _LENGTHS[tokenizer]

    def count_tokens(texts):
        texts = np.asarray([str(t) for t in texts], dtype=object)
        parts = [
            lengths(texts[start : start + batch_size]).numpy()
            for start in range(0, len(texts), batch_size)
        ]
        return np.concatenate(parts) if parts else np.zeros(0, np.int64)

    return count_tokens, int(length) - 2


# One traced token-length function per tokenizer (tracing costs seconds).
_LENGTHS = weakref.WeakKeyDictionary()


def _lengths_function(tokenizer):
    import tensorflow as tf

    @tf.function(
        input_signature=[tf.TensorSpec([None], tf.string)], autograph=False
    )
    def lengths(texts):
        tokens = tokenizer(texts)
        if not isinstance(tokens, tf.RaggedTensor):
            raise ValueError(
                "negation-aware truncation needs a tokenizer that returns "
                "ragged token ids (no sequence_length of its own); "
                f"{type(tokenizer).__name__} returned a "
                f"{type(tokens).__name__}. Pass truncation='end'."
            )
        return tokens.row_lengths()

    return lengths


def truncate_columns(columns, preprocessor):
    """Negation-aware truncation of `make_dataset`'s report columns.

    Cuts `columns["report"]` and the valid slots of `columns["negations"]`
    (per `columns["negation_mask"]`) in place with `truncate_groups`;
    a preprocessor without a `tokenizer` and `sequence_length` leaves
    them to its own `tokenize`.

    Example:
    >>> import numpy as np
    >>> columns = {"report": np.array(["A. B."], object),
    ...            "negations": np.array([["A. No B."]], object),
    ...            "negation_mask": np.ones((1, 1), "float32")}
    >>> truncate_columns(columns, object())
    >>> columns["report"].tolist()
    ['A. B.']
    """
    counter = token_counter(preprocessor)
    if counter is None:
        return
    count_tokens, budget = counter
    texts, mask = columns["negations"], columns["negation_mask"]
    groups = [
        (report, [t for t, m in zip(texts[i], mask[i]) if m])
        for i, report in enumerate(columns["report"])
    ]
    for i, (report, variants) in enumerate(
        truncate_groups(groups, count_tokens, budget)
    ):
        columns["report"][i] = report
        slots = np.flatnonzero(mask[i])
        texts[i, slots] = np.asarray(variants, dtype=object)


def _numpy(value):
    import tensorflow as tf

    if isinstance(value, tf.Tensor):
        return value.numpy()
    import keras

    return np.asarray(keras.ops.convert_to_numpy(value))


def guard_collisions(columns, preprocessor, ids, log, chunk=1024):
    """Mask the negations whose token ids equal their report's.

    `make_dataset`'s collision guard: after preprocessing, a negated
    report identical to its report teaches nothing; its `negation_mask`
    is set to 0 in place and `(row, slot, id)` appended to
    `log.masked_negations`.

    Example:
    >>> import types, numpy as np, tensorflow as tf
    >>> class Pre:
    ...     def tokenize(self, texts):
    ...         ids = tf.strings.to_hash_bucket_fast(texts, 99)
    ...         return {"token_ids": ids[..., None]}
    >>> columns = {"row": np.arange(1),
    ...            "report": np.array(["a b"], object),
    ...            "negations": np.array([["a b", "no a"]], object),
    ...            "negation_mask": np.ones((1, 2), "float32")}
    >>> log = types.SimpleNamespace(masked_negations=[])
    >>> guard_collisions(columns, Pre(), ["s1"], log)
    >>> columns["negation_mask"].tolist(), log.masked_negations
    ([[0.0, 1.0]], [(0, 0, 's1')])
    """
    import tensorflow as tf

    mask = columns["negation_mask"]
    rows = np.flatnonzero(mask.any(axis=1))
    if not len(rows):
        return
    k = mask.shape[1]
    texts = np.concatenate(
        [columns["report"][rows, None], columns["negations"][rows]], axis=1
    ).reshape(-1)
    # One shape for every call: `tokenize` is traced once.
    padded = np.full(-(-len(texts) // chunk) * chunk, "", dtype=object)
    padded[: len(texts)] = texts
    token_ids = np.concatenate(
        [
            _numpy(
                preprocessor.tokenize(
                    tf.constant(padded[start : start + chunk].astype(str))
                )["token_ids"]
            )
            for start in range(0, len(padded), chunk)
        ]
    )[: len(texts)]
    token_ids = token_ids.reshape(len(rows), k + 1, -1)
    same = np.all(token_ids[:, 1:] == token_ids[:, :1], axis=-1)
    for i, slot in zip(*np.nonzero(same & (mask[rows] > 0))):
        row = int(columns["row"][rows[i]])
        mask[rows[i], slot] = 0.0
        log.masked_negations.append((row, int(slot), str(ids[row])))
