"""Report graphs, their arrays, and the CheXpert knowledge graph."""

import networkx as nx
import numpy as np
import pytest

from keras_clinclip.reports import CHEXPERT_OBSERVATIONS
from keras_clinclip.reports import EDGE_TYPES
from keras_clinclip.reports import GRAPH_FEATURE_DIM
from keras_clinclip.reports import GRAPH_MAX_NODES
from keras_clinclip.reports import graph_to_arrays
from keras_clinclip.reports import knowledge_graph
from keras_clinclip.reports import report_graph
from keras_clinclip.reports.graph import _OFFSETS
from keras_clinclip.reports.graph import STATUSES

pytestmark = pytest.mark.backend_independent

TEXT = (
    "Mild left lower lobe atelectasis. No pleural effusion. Bibasilar "
    "opacities likely representing pneumonia. Possible small right "
    "pneumothorax."
)


def test_report_graph_nodes_and_edges():
    graph = report_graph(TEXT)
    assert isinstance(graph, nx.DiGraph)
    atelectasis = graph.nodes["finding:atelectasis"]
    assert atelectasis["status"] == "present"
    assert atelectasis["laterality"] == "left"
    assert atelectasis["severity"] > 0
    assert atelectasis["observation"] == "Atelectasis"
    assert graph.nodes["finding:pleural effusion"]["status"] == "absent"
    pneumothorax = graph.nodes["finding:pneumothorax"]
    assert pneumothorax["status"] == "uncertain"
    assert pneumothorax["laterality"] == "right"
    edge = graph.edges["finding:atelectasis", "anatomy:left lower lobe"]
    assert edge["type"] == "located_at"
    assert graph.edges["modifier:mild", "finding:atelectasis"]["type"] == (
        "modify"
    )
    assert graph.edges["finding:opacity", "finding:pneumonia"]["type"] == (
        "suggestive_of"
    )
    types = {d["type"] for _, _, d in graph.edges(data=True)}
    assert types <= set(EDGE_TYPES)


def test_finer_findings_are_nodes():
    graph = report_graph("Calcified right upper lobe granuloma. Emphysema.")
    assert graph.nodes["finding:granuloma"]["observation"] is None
    assert "finding:emphysema" in graph
    assert len(report_graph("")) == 0


def test_graph_to_arrays_shapes_padding_and_features():
    graph = report_graph(TEXT)
    arrays = graph_to_arrays(graph)
    n = graph.number_of_nodes()
    assert arrays["nodes"].shape == (GRAPH_MAX_NODES, GRAPH_FEATURE_DIM)
    assert arrays["adjacency"].shape == (GRAPH_MAX_NODES, GRAPH_MAX_NODES)
    assert arrays["node_mask"].shape == (GRAPH_MAX_NODES,)
    for value in arrays.values():
        assert value.dtype == np.float32
    assert arrays["node_mask"].sum() == n
    assert not arrays["nodes"][n:].any() and not arrays["adjacency"][n:].any()
    assert arrays["adjacency"].sum() == graph.number_of_edges()
    assert np.trace(arrays["adjacency"]) == 0
    # Findings come first, present before absent.
    first = arrays["nodes"][0]
    assert first[_OFFSETS["type"]] == 1.0
    assert first[_OFFSETS["status"] + STATUSES.index("present")] == 1.0
    column = _OFFSETS["observation"] + CHEXPERT_OBSERVATIONS.index(
        "Atelectasis"
    )
    assert first[column] == 1.0
    typed = graph_to_arrays(graph, typed=True)
    assert typed["edge_types"].shape == (3, GRAPH_MAX_NODES, GRAPH_MAX_NODES)
    assert (typed["edge_types"].sum(0) == typed["adjacency"]).all()


def test_graph_to_arrays_truncates_in_documented_order():
    graph = report_graph(TEXT)
    arrays = graph_to_arrays(graph, max_nodes=3)
    assert arrays["node_mask"].tolist() == [1.0, 1.0, 1.0]
    # The 3 kept nodes are findings: type column 0 set for all.
    assert (arrays["nodes"][:, _OFFSETS["type"]] == 1.0).all()
    # Absent findings come after present and uncertain ones.
    absent = _OFFSETS["status"] + STATUSES.index("absent")
    assert arrays["nodes"][:, absent].sum() == 0
    with pytest.raises(ValueError, match="max_nodes"):
        graph_to_arrays(graph, max_nodes=0)
    with pytest.raises(TypeError, match="networkx"):
        graph_to_arrays({"nodes": []})


def test_knowledge_graph_hierarchy_and_cooccurrence():
    graph = knowledge_graph()
    assert graph is knowledge_graph()  # cached
    assert set(graph.nodes) == set(CHEXPERT_OBSERVATIONS)
    for child in (
        "Edema",
        "Consolidation",
        "Pneumonia",
        "Atelectasis",
        "Lung Lesion",
    ):
        assert graph.edges["Lung Opacity", child]["type"] == "parent_of"
    assert (
        graph.edges["Enlarged Cardiomediastinum", "Cardiomegaly"]["type"]
        == "parent_of"
    )
    # Edema and cardiomegaly co-occur more than chance in CheXpert.
    edge = graph.edges["Cardiomegaly", "Edema"]
    assert edge["type"] == "co_occurs" and edge["pmi"] > 0
    assert edge["count"] >= 20
    assert -1.0 <= edge["npmi"] <= 1.0
    assert graph.graph["studies"] > 100_000
    prevalence = graph.nodes["Support Devices"]["prevalence"]
    assert 0.0 < prevalence < 1.0
