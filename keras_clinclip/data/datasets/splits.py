"""The published split rules, their expected counts, seeded subsets.

- `shuffle_split`: scikit-learn's `train_test_split(..., random_state=s)`
  without scikit-learn: `n_test = ceil(fraction * n)`, one permutation of
  `numpy.random.RandomState(s)`, the test part first.
- `gloria_split`: GLoRIA's rule (also CXR-CLIP's and MGCA's for RSNA and
  SIIM): 70 % train, then the held-out 30 % halved with the same seed; the
  first half is test, the second validate.
- `group_split`: a share of the groups (patients) to one split.
- `subset`: the seeded 1 %, 10 % and 100 % training subsets; smaller ones
  are contained in larger ones (one permutation).
- `split_from_lists`: a split published as files of ids (BenchX, MRM).

Every rule states the counts it gives on the full published table
(`EXPECTED`); `check_counts` compares and raises one line naming the
dataset, the split and both counts.
"""

import math
import pathlib

import numpy as np

from keras_clinclip import tables
from keras_clinclip.data import records as rec

# (dataset, rule) -> the table's size and the split counts it gives.
EXPECTED = {
    ("rsna", "gloria"): {
        "size": 26684,
        "train": 18678,
        "validate": 4003,
        "test": 4003,
    },
    ("siim", "gloria"): {
        "size": 12954,
        "train": 9067,
        "validate": 1944,
        "test": 1943,
    },
    ("siim", "image"): {
        "size": 12047,
        "train": 8432,
        "validate": 1808,
        "test": 1807,
    },
    ("vindr", "cxr-clip"): {
        "size": 15000,
        "train": 12000,
        "validate": 3000,
    },
    ("chestxray14", "official"): {
        "size": 112120,
        "train+validate": 86524,
        "test": 25596,
    },
}


def shuffle_split(n, test_fraction, seed=0):
    """Indices of scikit-learn's `train_test_split` over n items.

    Args:
        n: the number of items.
        test_fraction: the share held out (`test_size`).
        seed: `random_state`.

    Returns:
        `(train, test)` int arrays, in the order scikit-learn returns.

    Example:
    >>> [a.tolist() for a in shuffle_split(4, 0.5, seed=0)]
    [[1, 0], [2, 3]]
    """
    n_test = math.ceil(test_fraction * n)
    order = np.random.RandomState(seed).permutation(n)
    return order[n_test:], order[:n_test]


def gloria_split(n, seed=0):
    """GLoRIA's 70/15/15 split of n items (rows or patients), as names.

    Args:
        n: the number of items, in the table's order.
        seed: the `random_state` of both splits.

    Returns:
        A list of n names, `"train"`, `"validate"` or `"test"`.

    Example:
    >>> names = gloria_split(20)
    >>> [names.count(s) for s in ("train", "validate", "test")]
    [14, 3, 3]
    """
    train, held = shuffle_split(n, 0.3, seed)
    test, validate = shuffle_split(len(held), 0.5, seed)
    names = np.empty(n, object)
    names[train] = "train"
    names[held[test]] = "test"
    names[held[validate]] = "validate"
    return names.tolist()


def group_split(groups, fraction, seed=0):
    """A seeded share of the groups (e.g. patients), as a bool per item.

    Args:
        groups: the group of each item.
        fraction: the share of the (sorted, distinct) groups to pick;
            `ceil(fraction * groups)` of them.
        seed: the seed of the permutation.

    Returns:
        bool array, True for the items of the picked groups.

    Example:
    >>> group_split(["a", "a", "b", "c", "d"], 0.25).tolist()
    [False, False, False, True, False]
    """
    names, inverse = np.unique(np.asarray(groups, str), return_inverse=True)
    picked = np.zeros(len(names), bool)
    _, chosen = shuffle_split(len(names), fraction, seed)
    picked[chosen] = True
    return picked[inverse]


def subset(records, fraction, seed=0, split="train"):
    """A seeded share of one split's rows; the other splits kept whole.

    `round(fraction * n)` rows (at least one) from one permutation, so
    the 1 % rows are among the 10 % rows, which are among the 100 %.

    Args:
        records: a records dict.
        fraction: in (0, 1] (0.01, 0.1, 1.0 in the papers).
        seed: the seed of the permutation.
        split: the split to subsample.

    Returns:
        The records dict, rows in their original order.

    Example:
    >>> r = {"id": list("abcdefghij"), "split": ["train"] * 10}
    >>> subset(r, 0.3)["id"]
    ['c', 'e', 'i']
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}.")
    rows = np.nonzero([s == split for s in records["split"]])[0]
    count = max(1, int(round(fraction * len(rows)))) if len(rows) else 0
    order = np.random.RandomState(seed).permutation(len(rows))
    keep = np.ones(len(records["split"]), bool)
    keep[rows] = False
    keep[rows[np.sort(order[:count])]] = True
    return rec.select(records, keep)


def counts_of(names):
    """How many items each split has.

    Example:
    >>> counts_of(["train", "test", "train"])
    {'train': 2, 'validate': 0, 'test': 1}
    """
    names = list(names)
    return {split: names.count(split) for split in tables.SPLITS}


def check_counts(dataset, rule, size, counts, verify="auto"):
    """Compare a split's counts with those the rule gives when published.

    Args:
        dataset: the dataset's name (`"rsna"`).
        rule: the rule's name (`"gloria"`).
        size: the number of items split (patients, rows or images).
        counts: split -> count, as obtained.
        verify: `"auto"` checks when `size` is the published table's
            (a subset or a fixture gives other counts by design); `True`
            always; `False` never.

    Raises:
        ValueError: one line naming the dataset, the split and both
            counts.

    Example:
    >>> check_counts("rsna", "gloria", 10, {"train": 7})
    >>> try:
    ...     check_counts("rsna", "gloria", 26684, {"train": 7}, verify=True)
    ... except ValueError as error:
    ...     print(error)
    rsna (gloria split): split 'train' has 7 items, expected 18678.
    """
    expected = EXPECTED.get((dataset, rule))
    if not verify or expected is None:
        return
    if verify == "auto" and size != expected["size"]:
        return
    if size != expected["size"]:
        raise ValueError(
            f"{dataset} ({rule} split): the table has {size} items, "
            f"expected {expected['size']}."
        )
    for split, count in counts.items():
        want = expected.get(split)
        if want is not None and want != count:
            raise ValueError(
                f"{dataset} ({rule} split): split {split!r} has {count} "
                f"items, expected {want}."
            )


def split_from_lists(ids, lists):
    """The split of each id from published lists (one id per line).

    Args:
        ids: the ids of the records (file names or ids as the lists
            spell them; a `.png`/`.jpg`/`.dcm` suffix is ignored).
        lists: split name -> a text file of ids.

    Returns:
        A list with the split of each id, None for ids in no list.

    Raises:
        ValueError: naming the file and row of an id that is not among
            `ids`, or of an id listed twice.

    Example:
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "test.txt")
    >>> _ = open(path, "w").write("b.png\\n")
    >>> split_from_lists(["a", "b"], {"test": path})
    [None, 'test']
    """

    def key(name):
        name = str(name).strip()
        for suffix in (".png", ".jpg", ".jpeg", ".dcm", ".dicom"):
            if name.lower().endswith(suffix):
                return name[: -len(suffix)]
        return name

    index = {key(name): i for i, name in enumerate(ids)}
    out = [None] * len(ids)
    for split, path in lists.items():
        path = pathlib.Path(path)
        lines = path.read_text(encoding="utf-8").splitlines()
        rows = [line for line in lines if line.strip()]
        for number, line in enumerate(rows, start=1):
            i = index.get(key(line))
            if i is None:
                raise ValueError(
                    f"{path}, row {number}, column 'id': {line.strip()!r} is "
                    "not in the dataset's table."
                )
            if out[i] is not None:
                raise ValueError(
                    f"{path}, row {number}, column 'id': {line.strip()!r} is "
                    f"already in the {out[i]!r} list."
                )
            out[i] = split
    return out
