"""CXR-Align Task A/B on hand-built embeddings."""

import numpy as np
import pytest

from keras_clinclip.evaluation import cxr_align

pytestmark = pytest.mark.backend_independent


def at_angle(degrees):
    r = np.deg2rad(degrees)
    return np.array([np.cos(r), np.sin(r)])


def test_tasks_a_and_b_hand_computed():
    images = np.tile([1.0, 0.0], (4, 1))
    # cosine = cos(angle): a smaller angle is a higher similarity.
    angles = [  # (report, omitted, negation)
        (10, 20, 30),  # A yes, B yes
        (10, 40, 20),  # A yes (by 0.045), B no (omitted below negation)
        (50, 20, 30),  # A no, B no
        (10, 20, 10),  # tie report/negation: A no (strict), B no
    ]
    report = np.stack([at_angle(a[0]) for a in angles])
    omitted = np.stack([at_angle(a[1]) for a in angles])
    negation = np.stack([at_angle(a[2]) for a in angles])
    result = cxr_align.cxr_align_scores(
        images, report, negation, omitted, n_bootstrap=100
    )
    assert result["tasks"]["A"]["score"] == 0.5
    assert result["tasks"]["B"]["score"] == 0.25
    assert result["tasks"]["A"]["num_images"] == 4
    np.testing.assert_allclose(
        result["margins"]["report-negation"],
        [np.cos(np.deg2rad(a[0])) - np.cos(np.deg2rad(a[2])) for a in angles],
    )
    low, high = result["tasks"]["A"]["ci_low"], result["tasks"]["A"]["ci_high"]
    assert 0.0 <= low <= 0.5 <= high <= 1.0
    # A margin makes the tasks stricter.
    strict = cxr_align.cxr_align_scores(
        images, report, negation, omitted, margin=0.1, n_bootstrap=0
    )
    assert strict["tasks"]["A"]["score"] == 0.25
    # Configurable tasks: any ordering of the text kinds.
    custom = cxr_align.cxr_align_scores(
        images,
        report,
        negation,
        omitted,
        tasks={"omitted>negation": ("omitted", "negation")},
        n_bootstrap=0,
    )
    assert list(custom["tasks"]) == ["omitted>negation"]
    assert custom["tasks"]["omitted>negation"]["score"] == 0.5


def test_missing_omitted_reports_are_left_out_of_task_b():
    images = np.tile([1.0, 0.0], (3, 1))
    report = np.stack([at_angle(10)] * 3)
    negation = np.stack([at_angle(30)] * 3)
    omitted = np.stack([at_angle(20), at_angle(20), [np.nan, np.nan]])
    result = cxr_align.cxr_align_scores(
        images, report, negation, omitted, n_bootstrap=0
    )
    assert result["tasks"]["A"]["num_images"] == 3
    assert result["tasks"]["B"]["num_images"] == 2
    assert result["tasks"]["B"]["score"] == 1.0
    only_a = cxr_align.cxr_align_scores(images, report, negation)
    assert list(only_a["tasks"]) == ["A"]


def test_errors_name_the_problem():
    e = np.eye(2)
    with pytest.raises(ValueError, match="negation embeddings have shape"):
        cxr_align.cxr_align_scores(e, e, np.eye(3))
    with pytest.raises(ValueError, match="needs 'omitted' embeddings"):
        cxr_align.cxr_align_scores(
            e, e, e, tasks={"B": cxr_align.DEFAULT_TASKS["B"]}
        )
    with pytest.raises(ValueError, match="unknown text kind 'chosen'"):
        cxr_align.cxr_align_scores(e, e, e, tasks={"x": ("report", "chosen")})
    with pytest.raises(ValueError, match="s/7 has no 'negation'"):
        cxr_align.flatten_cxr_align({"s": {"7": {"report": "Effusion."}}})


def test_evaluate_with_a_fake_model_and_json_dict():
    class Fake:
        """Images and texts embed to fixed vectors by a lookup."""

        def convert_images(self, images):
            return np.asarray(images, dtype="float32")

        def encode_images(self, images):
            return images

        def tokenize(self, texts):
            ids = np.array(
                [
                    [
                        1.0 if "no " in t.lower() else 0.0,
                        0.5 if "omit" in t else 0.0,
                    ]
                    for t in texts
                ],
                "float32",
            )
            return {"token_ids": ids, "padding_mask": np.ones_like(ids)}

        def encode_texts(self, token_ids, padding_mask):
            # "no" -> away from the image; "omit" -> half way.
            return np.stack(
                [
                    1.0 - token_ids[:, 0] - token_ids[:, 1],
                    token_ids[:, 0] + token_ids[:, 1],
                ],
                axis=1,
            )

    data = {
        "ours": {
            "a": {
                "report": "Effusion.",
                "chosen": "Effusion.",
                "negation": "No effusion.",
                "omitted": "omit",
                "location": None,
            },
            "b": {"report": "Edema.", "negation": "No edema.", "omitted": ""},
            "c": {"report": "Mass.", "negation": "No mass."},
        }
    }
    fake = Fake()
    images = {"a": np.array([1.0, 0.0]), "b": np.array([1.0, 0.0])}
    result = cxr_align.evaluate_cxr_align(
        fake, fake, data, images, n_bootstrap=0
    )
    assert result["ids"] == ["a", "b"]
    assert result["num_missing_images"] == 1
    assert result["tasks"]["A"]["score"] == 1.0
    assert result["tasks"]["B"]["num_images"] == 1
    assert result["tasks"]["B"]["score"] == 1.0


def test_items_identical_after_preprocessing_are_excluded():
    class Truncating:
        """Embeds only the first word, like a too-short sequence_length."""

        def convert_images(self, images):
            return np.asarray(images, dtype="float32")

        def encode_images(self, images):
            return images

        def tokenize(self, texts):
            ids = np.array([[len(t.split()[0]), 1.0] for t in texts], "f")
            return {"token_ids": ids, "padding_mask": ids > 0}

        def encode_texts(self, token_ids, padding_mask):
            return np.asarray(token_ids)

    data = {
        "s": {
            "1": {
                "report": "Effusion on the left.",
                "negation": "Effusion absent on the left.",
            },
            "2": {"report": "Edema.", "negation": "No edema."},
        }
    }
    model = Truncating()
    images = {"1": np.array([1.0, 0.0]), "2": np.array([1.0, 0.0])}
    with pytest.warns(UserWarning, match="1 of 2 items excluded"):
        result = cxr_align.evaluate_cxr_align(
            model, model, data, images, n_bootstrap=0
        )
    assert result["num_excluded"] == 1
    assert result["excluded_ids"] == ["1"]
    assert result["ids"] == ["2"]
    assert result["tasks"]["A"]["num_images"] == 1
    from keras_clinclip.evaluation.report_tables import format_cxr_align_table

    assert "Excluded: 1 item(s)" in format_cxr_align_table(result)
    only = {"s": {"1": data["s"]["1"]}}
    with pytest.raises(ValueError, match="nothing to score"):
        cxr_align.evaluate_cxr_align(model, model, only, images)
