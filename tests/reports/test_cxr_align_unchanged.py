"""build_cxr_align leaves out items whose negation is the report itself."""

import logging

import pytest

from keras_clinclip.reports import cxr_align_benchmark
from keras_clinclip.reports.negation import NegationRejectedError

pytestmark = pytest.mark.backend_independent


def test_unchanged_negations_are_left_out_and_counted(monkeypatch, caplog):
    reports = ["Small left pleural effusion.", "Mild cardiomegaly."]
    before = cxr_align_benchmark.build_cxr_align(reports)["keras_clinclip"]
    assert sorted(before) == ["0", "1"]

    real = cxr_align_benchmark.negate_finding

    def fails_on_effusion(text, finding, seed=0, family="templates"):
        if finding == "Pleural Effusion":
            return text
        return real(text, finding, family=family)

    monkeypatch.setattr(
        cxr_align_benchmark, "negate_finding", fails_on_effusion
    )
    with caplog.at_level(logging.WARNING, logger="keras_clinclip.reports"):
        after = cxr_align_benchmark.build_cxr_align(reports)["keras_clinclip"]
    assert sorted(after) == ["1"]
    assert after["1"] == before["1"]
    assert "1 report(s) left out" in caplog.text


def test_rejected_negations_are_left_out_and_counted(monkeypatch, caplog):
    reports = ["Small left pleural effusion.", "Mild cardiomegaly."]
    real = cxr_align_benchmark.negate_finding

    def rejects_effusion(text, finding, seed=0, family="templates"):
        if finding == "Pleural Effusion":
            raise NegationRejectedError("rejected")
        return real(text, finding, family=family)

    monkeypatch.setattr(cxr_align_benchmark, "negate_finding", rejects_effusion)
    with caplog.at_level(logging.WARNING, logger="keras_clinclip.reports"):
        after = cxr_align_benchmark.build_cxr_align(reports, family="synonyms")
    assert sorted(after["keras_clinclip"]) == ["1"]
    assert "1 report(s) left out" in caplog.text
    assert "'synonyms' negation" in caplog.text
    # The synonyms family's wording, not the templates' ("The heart is
    # not enlarged.").
    assert after["keras_clinclip"]["1"]["negation"] == (
        "There is no enlarged heart."
    )
