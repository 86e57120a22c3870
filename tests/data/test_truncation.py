"""Negation-aware truncation and the collision guard of `make_dataset`."""

import logging

import numpy as np
import pytest

from keras_clinclip.data import NegationOptions
from keras_clinclip.data import PipelineOptions
from keras_clinclip.data import make_dataset
from keras_clinclip.data import synthetic_pairs
from keras_clinclip.data import truncation
from keras_clinclip.reports import negate_finding
from keras_clinclip.reports import omit_finding
from keras_clinclip.reports.sentences import sentence_spans
from tests.helpers import tiny_preprocessor

HEAD = (
    "heart size normal . lungs clear . no pneumothorax . no edema . "
    "no fracture . "
)
REPORT = HEAD + "small left pleural effusion ."
NEGATED = HEAD + "no left pleural effusion ."
# 21 tiny-vocabulary tokens; the edit is in the last 5.


def words(texts):
    return [len(t.split()) for t in texts]


def _differing(a, b):
    """The sentences of `a` not in `b` and of `b` not in `a`."""
    sa = [s.strip(" .") for s in a.split(" . ") if s.strip(" .")]
    sb = [s.strip(" .") for s in b.split(" . ") if s.strip(" .")]
    return [s for s in sa if s not in sb], [s for s in sb if s not in sa]


# --- The rule, with a word counter (pure Python) ---


@pytest.mark.backend_independent
def test_edit_at_the_end_survives_a_short_budget():
    report, (negated,) = truncation.truncate_variants(
        REPORT, [NEGATED], words, 10
    )
    assert report == "heart size normal . small left pleural effusion ."
    assert negated == "heart size normal . no left pleural effusion ."
    assert max(words([report, negated])) <= 10
    # Everything but the edited sentence is shared, in the same order.
    assert _differing(report, negated) == (
        ["small left pleural effusion"],
        ["no left pleural effusion"],
    )


@pytest.mark.backend_independent
def test_texts_that_fit_are_unchanged():
    assert truncation.truncate_variants(REPORT, [NEGATED], words, 21) == (
        REPORT,
        [NEGATED],
    )
    # Nothing to protect: the tokenizer's own cut applies.
    assert truncation.truncate_variants(REPORT, [REPORT], words, 5) == (
        REPORT,
        [REPORT],
    )


@pytest.mark.backend_independent
def test_findings_and_impression_come_before_other_sections():
    report = (
        "INDICATION: Cough and fever for three days. "
        "FINDINGS: Heart size is normal. Small left pleural effusion. "
        "IMPRESSION: Effusion."
    )
    negated = negate_finding(report, "Pleural Effusion")
    assert negated != report
    budget = 16
    assert max(words([report, negated])) > budget
    cut, (cut_negated,) = truncation.truncate_variants(
        report, [negated], words, budget
    )
    assert "Cough" not in cut and "INDICATION" not in cut
    assert "Heart size is normal." in cut
    assert max(words([cut, cut_negated])) <= budget
    assert cut != cut_negated


@pytest.mark.backend_independent
def test_negated_and_omitted_variants_are_cut_alike():
    report = (
        "Heart size is normal. The lungs are clear of consolidation. "
        "No pneumothorax is seen. The osseous structures are intact. "
        "There is a small left pleural effusion."
    )
    negated = negate_finding(report, "Pleural Effusion")
    omitted = omit_finding(report, "Pleural Effusion")
    budget = 14
    cut, (cut_negated, cut_omitted) = truncation.truncate_variants(
        report, [negated, omitted], words, budget
    )
    assert "small left pleural effusion" in cut
    assert "no left pleural effusion" in cut_negated.lower()
    assert "effusion" not in cut_omitted
    assert max(words([cut, cut_negated, cut_omitted])) <= budget
    # The omitted report is the report without the edited sentence.
    assert (
        cut_omitted
        == cut.replace("There is a small left pleural effusion.", "").strip()
    )


@pytest.mark.backend_independent
def test_added_sentences_and_over_long_edits():
    report = "lungs clear . heart size normal . no edema ."
    added = report + " small effusion ."
    cut, (cut_added,) = truncation.truncate_variants(report, [added], words, 7)
    assert cut_added.endswith("small effusion .")
    assert cut_added == cut + " small effusion ."
    # An edited sentence longer than the budget is kept alone.
    long = "a " * 30 + "effusion ."
    cut, (cut_long,) = truncation.truncate_variants(
        "lungs clear . " + long, ["lungs clear . no " + long], words, 8
    )
    assert cut == long.strip()
    assert cut_long == "no " + long.strip()


@pytest.mark.backend_independent
def test_groups_are_independent_and_deterministic():
    groups = [
        (REPORT, [NEGATED]),
        ("a . b .", []),
        (REPORT.upper(), [NEGATED.upper()]),
    ]
    once = truncation.truncate_groups(groups, words, 10)
    again = truncation.truncate_groups(groups[::-1], words, 10)[::-1]
    assert once == again
    assert once[1] == ("a . b .", [])
    with pytest.raises(ValueError, match="budget"):
        truncation.truncate_groups(groups, words, 0)
    with pytest.raises(ValueError, match="3 counts for"):
        truncation.truncate_groups(groups, lambda t: [1, 2, 3], 10)


# --- With the real (WordPiece) tokenizer, on every backend ---


def test_token_counts_add_up_over_sentences():
    count, budget = truncation.token_counter(tiny_preprocessor(12))
    assert budget == 10
    sentences = [REPORT[a:b] for a, b in sentence_spans(REPORT)]
    assert len(sentences) == 6
    whole = int(count([REPORT])[0])
    assert whole == sum(int(c) for c in count(sentences)) == 21


@pytest.fixture(scope="module")
def base_records():
    return synthetic_pairs(6, seed=0, image_size=32, graphs=False)


@pytest.fixture(scope="module")
def preprocessor():
    return tiny_preprocessor(sequence_length=12)


def _records(base):
    records = dict(base)
    records["report"] = [REPORT] * 6
    records["negations"] = [[NEGATED] for _ in range(6)]
    return records


def _batches(dataset):
    return [
        (x["token_ids"], x["negation_token_ids"], y["negation_mask"])
        for x, y in dataset.as_numpy_iterator()
    ]


def test_make_dataset_keeps_the_edit_and_cuts_alike(base_records, preprocessor):
    records = _records(base_records)
    dataset = make_dataset(
        records,
        preprocessor,
        batch_size=3,
        image_size=32,
        options=PipelineOptions(graphs=False),
    )
    vocabulary = preprocessor.tokenizer.get_vocabulary()
    for ids, negation_ids, mask in _batches(dataset):
        assert np.all(mask == 1.0)
        for row, negs in zip(ids, negation_ids):
            differs = np.flatnonzero(row != negs[0])
            # Exactly the edited word differs: "small" vs "no".
            assert [vocabulary[row[i]] for i in differs] == ["small"]
            assert [vocabulary[negs[0][i]] for i in differs] == ["no"]
            assert vocabulary.index("[SEP]") in row
    assert dataset.error_log.masked_negations == []


def test_collision_guard_masks_counts_and_logs(
    base_records, preprocessor, caplog
):
    records = _records(base_records)
    records["negations"][2] = [REPORT]  # identical text: always collides
    with caplog.at_level(logging.WARNING, logger="keras_clinclip.data"):
        dataset = make_dataset(
            records,
            preprocessor,
            batch_size=3,
            image_size=32,
            options=PipelineOptions(graphs=False, on_error="raise"),
        )
        for _ in range(2):  # two epochs
            batches = _batches(dataset)
    masks = np.concatenate([mask for _, _, mask in batches])
    assert masks[:, 0].tolist() == [1, 1, 0, 1, 1, 1]
    log = dataset.error_log
    assert log.masked_negations == [(2, 0, str(records["id"][2]))]
    assert [e["masked_negations"] for e in log.epochs] == [1, 1]
    assert caplog.text.count("1 negated report(s) masked") == 2
    # The plain cut at the end loses every edit: all six are masked.
    end = make_dataset(
        records,
        preprocessor,
        batch_size=3,
        image_size=32,
        negations=NegationOptions(truncation="end"),
        options=PipelineOptions(graphs=False),
    )
    masks = np.concatenate([mask for _, _, mask in _batches(end)])
    assert masks.sum() == 0
    assert len(end.error_log.masked_negations) == 6


def test_truncation_is_deterministic_and_checked(base_records, preprocessor):
    records = _records(base_records)
    records["report"][1] = "heart size normal . small effusion ."
    records["negations"][1] = ["heart size normal . no effusion ."]
    runs = [
        _batches(
            make_dataset(
                records,
                preprocessor,
                batch_size=3,
                image_size=32,
                options=PipelineOptions(seed=5),
            )
        )
        for _ in range(2)
    ]
    for a, b in zip(*runs):
        for left, right in zip(a, b):
            np.testing.assert_array_equal(left, right)
    with pytest.raises(ValueError, match="truncation must be one of"):
        make_dataset(
            records, preprocessor, negations=NegationOptions(truncation="start")
        )
