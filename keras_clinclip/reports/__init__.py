"""keras_clinclip.reports: clinical report preprocessing, pure Python.

Sections, sentences, CheXpert-14 labels with negation and uncertainty,
negated / omitted / affirmed reports, report graphs, the CheXpert knowledge
graph and CXR-Align-format benchmarks. No Keras here: this package imports
only the standard library, numpy, networkx and PyYAML. The phrases live in
`keras_clinclip/reports/data/*.yaml` (see docs/reports.md to extend them).

Example:
>>> from keras_clinclip import reports
>>> reports.label_report("No pneumothorax.")["Pneumothorax"]
0.0
"""

from keras_clinclip.chexpert import CHEXPERT_OBSERVATIONS
from keras_clinclip.reports.cxr_align_benchmark import build_cxr_align
from keras_clinclip.reports.cxr_align_benchmark import load_cxr_align
from keras_clinclip.reports.graph import EDGE_TYPES
from keras_clinclip.reports.graph import GRAPH_FEATURE_DIM
from keras_clinclip.reports.graph import GRAPH_MAX_NODES
from keras_clinclip.reports.graph import graph_to_arrays
from keras_clinclip.reports.graph import report_graph
from keras_clinclip.reports.knowledge_graph import knowledge_graph
from keras_clinclip.reports.label_agreement import label_agreement
from keras_clinclip.reports.label_agreement import read_reference_labels
from keras_clinclip.reports.labeler import label_report
from keras_clinclip.reports.labeler import label_reports
from keras_clinclip.reports.labeler import labels_to_array
from keras_clinclip.reports.labeler import positive_findings
from keras_clinclip.reports.labeler import sentence_mentions
from keras_clinclip.reports.negation import FindingNotStatedError
from keras_clinclip.reports.negation import affirm_finding
from keras_clinclip.reports.negation import negate_finding
from keras_clinclip.reports.negation import omit_finding
from keras_clinclip.reports.prepare import graph_arrays_from_record
from keras_clinclip.reports.prepare import process_report
from keras_clinclip.reports.sections import report_body
from keras_clinclip.reports.sections import split_sections
from keras_clinclip.reports.sentences import split_sentences

__all__ = [
    "CHEXPERT_OBSERVATIONS",
    "EDGE_TYPES",
    "FindingNotStatedError",
    "GRAPH_FEATURE_DIM",
    "GRAPH_MAX_NODES",
    "affirm_finding",
    "build_cxr_align",
    "graph_arrays_from_record",
    "graph_to_arrays",
    "knowledge_graph",
    "label_agreement",
    "label_report",
    "label_reports",
    "labels_to_array",
    "load_cxr_align",
    "negate_finding",
    "omit_finding",
    "positive_findings",
    "process_report",
    "read_reference_labels",
    "report_body",
    "report_graph",
    "sentence_mentions",
    "split_sections",
    "split_sentences",
]
