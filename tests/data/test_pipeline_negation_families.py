"""NegationOptions(families=...): the training negations' family."""

import numpy as np
import pytest

from keras_clinclip.data import NegationOptions
from keras_clinclip.data import PipelineOptions
from keras_clinclip.data import make_dataset
from keras_clinclip.reports import label_reports
from keras_clinclip.reports import labels_to_array
from keras_clinclip.reports import negate_finding
from keras_clinclip.reports.negation_mix import family_negations
from tests.data.test_pipeline import HashPreprocessor
from tests.data.test_pipeline import _key

REPORTS = [
    ("Small left pleural effusion.", "Pleural Effusion"),
    ("Mild cardiomegaly. No pneumothorax.", "Cardiomegaly"),
    ("Right lower lobe consolidation.", "Consolidation"),
    ("Bibasilar atelectasis and small effusions.", "Atelectasis"),
    ("The lungs are clear.", None),
    ("Small right pneumothorax.", "Pneumothorax"),
]


@pytest.fixture(scope="module")
def records():
    reports = [r for r, _ in REPORTS]
    chosen = [[f] if f else [] for _, f in REPORTS]
    return {
        "id": [f"s{i}" for i in range(len(reports))],
        "report": reports,
        "labels": labels_to_array(label_reports(reports)),
        "image": np.zeros((len(reports), 32, 32), np.uint8),
        "split": ["train"] * len(reports),
        "negated_findings": chosen,
        "negations": [
            [negate_finding(r, f[0])] if f else []
            for r, f in zip(reports, chosen)
        ],
    }


def _negation_keys(dataset):
    keys = []
    for x, y in dataset:
        ids = np.asarray(x["negation_token_ids"])[:, 0, 0]
        mask = np.asarray(y["negation_mask"])[:, 0]
        keys.extend(int(k) for k, m in zip(ids, mask) if m)
    return sorted(keys)


def test_negation_families_rewrite_the_training_negations(records):
    def build(families):
        return make_dataset(
            records,
            HashPreprocessor(),
            batch_size=4,
            negations=NegationOptions(
                truncation="end", count=1, families=families
            ),
            options=PipelineOptions(shuffle=False, graphs=False),
        )

    expected = family_negations(
        records["report"], records["negated_findings"], "resolution"
    )
    wanted = sorted(_key(t[0]) for t in expected if t and t[0])
    assert len(wanted) == 5
    assert _negation_keys(build("resolution")) == wanted
    own = sorted(_key(t[0]) for t in records["negations"] if len(t) and t[0])
    assert _negation_keys(build(None)) == own
    assert set(own).isdisjoint(wanted)
