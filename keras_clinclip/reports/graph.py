"""Report graphs: findings, anatomy and modifiers as a `networkx.DiGraph`.

Nodes:
- `finding:<name>`: a finding of `data/findings.yaml` (the CheXpert
  observations and finer findings such as granuloma or emphysema), with
  `status` ("present", "absent", "uncertain"), `severity` (0..1),
  `laterality` ("left", "right", "bilateral" or None) and `observation`.
- `anatomy:[<side> ]<name>`: an anatomical site (`data/anatomy.yaml`), with
  its `region` and `laterality`.
- `modifier:<word>`: a descriptor or severity word ("mild", "calcified").

Typed edges (attribute `type`):
- `located_at`: finding -> anatomy named in the same clause;
- `modify`: modifier -> finding it qualifies;
- `suggestive_of`: finding -> finding that a hedge or "consistent with"
  links after it ("opacities likely representing atelectasis").
"""

import bisect
import functools
import re

import networkx as nx
import numpy as np

from keras_clinclip.chexpert import CHEXPERT_OBSERVATIONS
from keras_clinclip.chexpert import NEGATIVE
from keras_clinclip.chexpert import POSITIVE
from keras_clinclip.reports._lexicon import DATA_DIR
from keras_clinclip.reports._lexicon import _read_yaml
from keras_clinclip.reports._lexicon import finding_of
from keras_clinclip.reports._lexicon import lexicon
from keras_clinclip.reports._lexicon import lower
from keras_clinclip.reports._text import as_text
from keras_clinclip.reports.labeler import _scan
from keras_clinclip.reports.labeler import sentence_mentions
from keras_clinclip.reports.spans import sentence_spans

NODE_TYPES = ("finding", "anatomy", "modifier")
STATUSES = ("present", "uncertain", "absent")
SIDES = ("left", "right", "bilateral")
EDGE_TYPES = ("located_at", "modify", "suggestive_of")

# The vocabularies of the node features come from the shipped data files
# only, so that the feature size does not change when users add phrases
# (an added finding sets its observation and the "other finding" slot).
_SHIPPED_FINDINGS = tuple(
    name
    for name, spec in _read_yaml(DATA_DIR / "findings.yaml")["findings"].items()
    if not spec.get("also")  # graphed as the findings they stand for
)
_SHIPPED_ANATOMY = _read_yaml(DATA_DIR / "anatomy.yaml")
_REGIONS = tuple(_SHIPPED_ANATOMY["regions"])
_DESCRIPTORS = tuple(_SHIPPED_ANATOMY["descriptors"])

# Feature layout: [type | observation | finding | other finding | region |
# status | laterality | severity | descriptor].
_OFFSETS = {}
_size = 0
for _name, _width in (
    ("type", len(NODE_TYPES)),
    ("observation", len(CHEXPERT_OBSERVATIONS)),
    ("finding", len(_SHIPPED_FINDINGS)),
    ("other_finding", 1),
    ("region", len(_REGIONS)),
    ("status", len(STATUSES)),
    ("laterality", len(SIDES)),
    ("severity", 1),
    ("descriptor", len(_DESCRIPTORS)),
):
    _OFFSETS[_name] = _size
    _size += _width
GRAPH_FEATURE_DIM = _size
GRAPH_MAX_NODES = 32

_LINK = re.compile(
    r"(?<![a-z])(?:consistent with|compatible with|represent\w*|reflect\w*|"
    r"suggest\w*|likely|probabl\w*|possibl\w*|may be|could be|concerning for"
    r"|suspicious for|due to|secondary to|indicat\w*)(?![a-z])"
)
_LINK_REACH = 3  # mentions ahead that a hedge may link to
_STATUS = {POSITIVE: "present", NEGATIVE: "absent"}
_RANK = {"present": 0, "uncertain": 1, "absent": 2}


def _status_name(value):
    return _STATUS.get(value, "uncertain")


def report_graph(text):
    """The graph of a report: findings, anatomy, modifiers, typed edges.

    Args:
        text: the report (`str` or UTF-8 `bytes`).

    Returns:
        A `networkx.DiGraph` (see the module docstring for node and edge
        attributes). Node attribute `order` is the order of first
        appearance.

    Example:
    >>> g = report_graph("Mild left lower lobe atelectasis. No effusion.")
    >>> g.nodes["finding:atelectasis"]["status"]
    'present'
    >>> g.nodes["finding:atelectasis"]["laterality"]
    'left'
    >>> sorted(d["type"] for _, _, d in g.edges(data=True))
    ['located_at', 'modify']
    >>> report_graph("Bibasilar atelectasis.").nodes[
    ...     "finding:atelectasis"]["laterality"]
    'bilateral'
    """
    text = as_text(text, "report")
    graph = nx.DiGraph()
    lex = lexicon()
    for a, b in sentence_spans(text):
        sentence = text[a:b]
        mentions = sentence_mentions(sentence)
        if not mentions:
            continue
        low = lower(sentence)
        words = _scan(lex.anatomy_re, lex.anatomy_payload, low)
        word_starts = [w[0] for w in words]
        ids = []
        for index, mention in enumerate(mentions):
            lo = mentions[index - 1].end if index else 0
            hi = (
                mentions[index + 1].start
                if index + 1 < len(mentions)
                else len(low)
            )
            first = bisect.bisect_left(word_starts, lo)
            last = bisect.bisect_right(word_starts, hi)
            near = [w for w in words[first:last] if w[1] <= hi]
            node = _add_finding(graph, mention, near, low)
            ids.append(node)
            _add_context(graph, node, mention, near, low)
        # suggestive_of: a finding linked to one of the next few by a hedge.
        for i in range(len(mentions) - 1):
            for j in range(i + 1, min(i + 1 + _LINK_REACH, len(mentions))):
                between = low[mentions[i].end : mentions[j].start]
                if len(between) > 200:
                    break
                if ids[i] != ids[j] and _LINK.search(between):
                    graph.add_edge(ids[i], ids[j], type="suggestive_of")
                    break
    return graph


def _add_finding(graph, mention, near, low=""):
    lex = lexicon()
    name = finding_of(mention)
    node = f"finding:{name}"
    status = _status_name(mention.status)
    side = None
    severity = 0.0
    for start, _end, (kind, value) in near:
        if kind == "s" and (side is None or start < mention.end):
            side = value
        elif kind == "a" and side is None and low[start : start + 2] == "bi":
            side = "bilateral"  # bibasilar, biapical, bihilar
        elif kind == "v":
            severity = max(severity, lex.severity.get(value, 0.0))
    if node in graph:
        data = graph.nodes[node]
        if _RANK[status] < _RANK[data["status"]]:
            data["status"] = status
        data["severity"] = max(data["severity"], severity)
        if side and data["laterality"] and side != data["laterality"]:
            data["laterality"] = "bilateral"
        elif side:
            data["laterality"] = side
    else:
        graph.add_node(
            node,
            type="finding",
            name=name,
            observation=mention.observation,
            status=status,
            severity=severity,
            laterality=side,
            order=len(graph),
        )
    return node


def _add_context(graph, node, mention, near, low):
    side = None
    for _start, _end, (kind, value) in near:
        if kind == "s":
            side = value
            continue
        if kind == "a":
            if low[_start : _start + 2] == "bi":  # bibasilar, biapical
                side = "bilateral"
            region = lexicon().anatomy["anatomy"][value]["region"]
            name = f"{side} {value}" if side else value
            anatomy = f"anatomy:{name}"
            if anatomy not in graph:
                graph.add_node(
                    anatomy,
                    type="anatomy",
                    name=value,
                    region=region,
                    laterality=side,
                    order=len(graph),
                )
            graph.add_edge(node, anatomy, type="located_at")
            side = None
        elif kind in ("v", "d"):
            modifier = f"modifier:{value}"
            if modifier not in graph:
                graph.add_node(
                    modifier,
                    type="modifier",
                    name=value,
                    severity=lexicon().severity.get(value, 0.0),
                    order=len(graph),
                )
            graph.add_edge(modifier, node, type="modify")


def _node_priority(item):
    name, data = item
    kind = NODE_TYPES.index(data.get("type", "modifier"))
    status = _RANK.get(data.get("status"), 3)
    return (kind, status, data.get("order", 0), name)


@functools.cache
def _finding_index():
    return {name: i for i, name in enumerate(_SHIPPED_FINDINGS)}


def node_features(data):
    """The feature vector (float32, `GRAPH_FEATURE_DIM`) of one node."""
    vector = np.zeros(GRAPH_FEATURE_DIM, np.float32)
    kind = data.get("type", "modifier")
    vector[_OFFSETS["type"] + NODE_TYPES.index(kind)] = 1.0
    if kind == "finding":
        observation = data.get("observation")
        if observation in CHEXPERT_OBSERVATIONS:
            index = CHEXPERT_OBSERVATIONS.index(observation)
            vector[_OFFSETS["observation"] + index] = 1.0
        index = _finding_index().get(data.get("name"))
        if index is None:
            vector[_OFFSETS["other_finding"]] = 1.0
        else:
            vector[_OFFSETS["finding"] + index] = 1.0
        status = data.get("status", "present")
        vector[_OFFSETS["status"] + STATUSES.index(status)] = 1.0
    if kind == "anatomy" and data.get("region") in _REGIONS:
        vector[_OFFSETS["region"] + _REGIONS.index(data["region"])] = 1.0
    if data.get("laterality") in SIDES:
        vector[_OFFSETS["laterality"] + SIDES.index(data["laterality"])] = 1.0
    vector[_OFFSETS["severity"]] = float(data.get("severity") or 0.0)
    if kind == "modifier" and data.get("name") in _DESCRIPTORS:
        vector[_OFFSETS["descriptor"] + _DESCRIPTORS.index(data["name"])] = 1
    return vector


def graph_to_arrays(graph, max_nodes=GRAPH_MAX_NODES, typed=False):
    """Fixed-size arrays of a report graph, for batching.

    Nodes are ordered findings first (present, uncertain, absent), then
    anatomy, then modifiers, each by first appearance; graphs with more
    than `max_nodes` nodes keep the first `max_nodes` in that order (and the
    edges between them); smaller graphs are zero-padded.

    Args:
        graph: a `networkx.DiGraph` from `report_graph`.
        max_nodes: M, the number of node slots.
        typed: also return `edge_types` (3, M, M), one channel per edge type
            of `EDGE_TYPES`.

    Returns:
        A dict with `nodes` float32 (M, F) with F = `GRAPH_FEATURE_DIM`,
        `adjacency` float32 (M, M) with `adjacency[i, j] = 1` for an edge
        i -> j of any type (directed, no self loops), and `node_mask`
        float32 (M,) (1 for a real node).

    Example:
    >>> arrays = graph_to_arrays(report_graph("Small left effusion."), 8)
    >>> arrays["nodes"].shape == (8, GRAPH_FEATURE_DIM)
    True
    >>> arrays["node_mask"].sum()  # the effusion and "small"
    np.float32(2.0)
    """
    if not isinstance(graph, nx.Graph):
        raise TypeError(
            f"graph must be a networkx graph, got {type(graph).__name__}"
        )
    if int(max_nodes) < 1:
        raise ValueError(f"max_nodes must be >= 1, got {max_nodes}")
    max_nodes = int(max_nodes)
    ordered = sorted(graph.nodes(data=True), key=_node_priority)[:max_nodes]
    index = {name: i for i, (name, _) in enumerate(ordered)}
    nodes = np.zeros((max_nodes, GRAPH_FEATURE_DIM), np.float32)
    mask = np.zeros((max_nodes,), np.float32)
    adjacency = np.zeros((max_nodes, max_nodes), np.float32)
    types = np.zeros((len(EDGE_TYPES), max_nodes, max_nodes), np.float32)
    for i, (_, data) in enumerate(ordered):
        nodes[i] = node_features(data)
        mask[i] = 1.0
    for u, v, data in graph.edges(data=True):
        if u in index and v in index and u != v:
            adjacency[index[u], index[v]] = 1.0
            kind = data.get("type")
            if kind in EDGE_TYPES:
                types[EDGE_TYPES.index(kind), index[u], index[v]] = 1.0
    out = {"nodes": nodes, "adjacency": adjacency, "node_mask": mask}
    if typed:
        out["edge_types"] = types
    return out
