"""The knowledge graph over the 14 CheXpert observations."""

import csv
import functools
import gzip
import io
import math

import networkx as nx

from keras_clinclip.chexpert import CHEXPERT_OBSERVATIONS
from keras_clinclip.utils import package_data_path

# The CheXpert hierarchy (Irvin et al., 2019, figure 2), parent -> children.
HIERARCHY = {
    "Lung Opacity": (
        "Edema",
        "Consolidation",
        "Pneumonia",
        "Atelectasis",
        "Lung Lesion",
    ),
    "Enlarged Cardiomediastinum": ("Cardiomegaly",),
    "Consolidation": ("Pneumonia",),
}
CHEXPERT_TABLE = "data/chexpert_train.csv.gz"


def _study_labels(path, uncertain_as_positive):
    """{study: set of positive observations} from the CheXpert table."""
    studies = {}
    positive = {"1.0", "1"}
    if uncertain_as_positive:
        positive |= {"-1.0", "-1"}
    with gzip.open(path, "rb") as raw:
        reader = csv.reader(io.TextIOWrapper(raw, encoding="utf-8"))
        header = next(reader, [])
        missing = [
            name
            for name in ("Path", *CHEXPERT_OBSERVATIONS)
            if name not in header
        ]
        if missing:
            raise ValueError(
                f"{path}: the CheXpert table lacks the columns {missing}"
            )
        path_column = header.index("Path")
        columns = [(header.index(o), o) for o in CHEXPERT_OBSERVATIONS]
        for row in reader:
            # One study = patient + study folder; its views share labels.
            parts = row[path_column].split("/")
            study = f"{parts[2]}/{parts[3]}" if len(parts) > 3 else parts[0]
            found = studies.get(study)
            if found is None:
                found = studies[study] = set()
            for index, observation in columns:
                if row[index] in positive:
                    found.add(observation)
    return studies


@functools.lru_cache(maxsize=8)
def knowledge_graph(uncertain_as_positive=False, min_count=20):
    """The graph of the 14 CheXpert observations, built once and cached.

    Nodes are the observations with `prevalence` (share of studies where
    positive). Edges:
    - `type="parent_of"`: the CheXpert hierarchy (Lung Opacity -> Edema,
      Consolidation, Pneumonia, Atelectasis, Lung Lesion; Enlarged
      Cardiomediastinum -> Cardiomegaly; Consolidation -> Pneumonia);
    - `type="co_occurs"`, in both directions, between observations positive
      together in at least `min_count` studies, with `pmi` = log p(a, b) /
      (p(a) p(b)), `npmi` = pmi / -log p(a, b) in [-1, 1], `count`, and
      `weight` = max(npmi, 0).

    Counts come from the real CheXpert training label table shipped in the
    `torchxrayvision` package (`data/chexpert_train.csv.gz`, 223,414 images
    grouped into studies).

    Args:
        uncertain_as_positive: count uncertain labels (-1) as positive.
        min_count: the least co-occurrence count of a `co_occurs` edge.

    Returns:
        A `networkx.DiGraph`, shared between calls (do not modify it; copy
        it with `.copy()`).

    Raises:
        keras_clinclip.utils.MissingPackageError: `torchxrayvision` is not
            installed (the message says how to install it).

    Example:
    >>> g = knowledge_graph()
    >>> g.has_edge("Lung Opacity", "Edema")
    True
    >>> g["Lung Opacity"]["Edema"]["type"]
    'parent_of'
    """
    path = package_data_path("torchxrayvision", CHEXPERT_TABLE)
    studies = _study_labels(path, uncertain_as_positive)
    n = len(studies)
    counts = dict.fromkeys(CHEXPERT_OBSERVATIONS, 0)
    pairs = {}
    for found in studies.values():
        ordered = sorted(found, key=CHEXPERT_OBSERVATIONS.index)
        for i, a in enumerate(ordered):
            counts[a] += 1
            for b in ordered[i + 1 :]:
                pairs[(a, b)] = pairs.get((a, b), 0) + 1
    graph = nx.DiGraph(source=CHEXPERT_TABLE, studies=n)
    for observation in CHEXPERT_OBSERVATIONS:
        graph.add_node(observation, prevalence=counts[observation] / n)
    for (a, b), count in pairs.items():
        if count < min_count or "No Finding" in (a, b):
            continue
        p_ab = count / n
        pmi = math.log(p_ab / ((counts[a] / n) * (counts[b] / n)))
        npmi = pmi / -math.log(p_ab)
        for u, v in ((a, b), (b, a)):
            graph.add_edge(
                u,
                v,
                type="co_occurs",
                pmi=pmi,
                npmi=npmi,
                count=count,
                weight=max(npmi, 0.0),
            )
    for parent, children in HIERARCHY.items():
        for child in children:
            old = (
                dict(graph.edges[parent, child])
                if graph.has_edge(parent, child)
                else {}
            )
            old["type"] = "parent_of"
            graph.add_edge(parent, child, **old)
            graph.edges[parent, child].setdefault("weight", 1.0)
    return graph
