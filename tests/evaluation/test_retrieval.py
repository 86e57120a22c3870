"""Retrieval: Recall@K and ranks with groups of equivalent reports."""

import numpy as np
import pytest

from keras_clinclip.evaluation import retrieval

pytestmark = pytest.mark.backend_independent


def test_hand_computed_recall_and_ranks():
    images = np.eye(3)
    # Report 0 matches image 0; reports 1 and 2 are swapped.
    texts = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    result = retrieval.retrieval_metrics(images, texts, ks=(1, 2))
    np.testing.assert_array_equal(result["image_to_text_ranks"], [1, 3, 3])
    np.testing.assert_array_equal(result["text_to_image_ranks"], [1, 3, 3])
    i2t = result["image_to_text"]
    assert i2t["R@1"] == pytest.approx(1 / 3)
    assert i2t["R@2"] == pytest.approx(1 / 3)
    assert i2t["mean_rank"] == pytest.approx(7 / 3)
    assert i2t["median_rank"] == 3.0
    assert i2t["num_queries"] == 3


def test_identical_reports_are_all_right_answers():
    # Images 0 and 1 have the same report text; their embeddings are equal.
    reports = ["No acute disease.", "no acute  disease.", "Effusion."]
    groups = retrieval.group_identical_texts(reports)
    assert groups.tolist() == [0, 0, 1]
    images = np.array([[1.0, 0.1], [1.0, -0.1], [0.0, 1.0]])
    texts = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    naive = retrieval.retrieval_metrics(images, texts, ks=(1,))
    grouped = retrieval.retrieval_metrics(
        images, texts, text_groups=groups, ks=(1,)
    )
    # Without groups the tie between the two identical reports is counted
    # against the model; with groups either is correct.
    assert naive["image_to_text"]["R@1"] == pytest.approx(1 / 3)
    assert grouped["image_to_text"]["R@1"] == 1.0
    assert grouped["text_to_image"]["R@1"] == 1.0


def test_an_image_with_several_reports():
    images = np.array([[1.0, 0.0], [0.0, 1.0]])
    # Reports 0 and 1 belong to image 0, report 2 to image 1.
    texts = np.array([[0.6, 0.8], [1.0, 0.0], [0.0, 1.0]])
    result = retrieval.retrieval_metrics(
        images, texts, text_to_image=[0, 0, 1], ks=(1,)
    )
    # Image 0: best relevant report (1) is first. Report 0 (0.6 vs 0.8)
    # retrieves image 1 first: rank 2.
    np.testing.assert_array_equal(result["image_to_text_ranks"], [1, 1])
    np.testing.assert_array_equal(result["text_to_image_ranks"], [2, 1, 1])


def test_collapsed_model_is_not_rewarded_for_ties():
    images = np.ones((4, 3))
    texts = np.ones((4, 3))
    result = retrieval.retrieval_metrics(images, texts, ks=(1,))
    assert result["image_to_text"]["R@1"] == 0.0
    assert result["image_to_text"]["mean_rank"] == 4.0


def test_chunking_does_not_change_the_result():
    rng = np.random.default_rng(0)
    images = rng.normal(size=(37, 8))
    texts = images + rng.normal(size=(37, 8))
    a = retrieval.retrieval_metrics(images, texts, chunk_size=5)
    b = retrieval.retrieval_metrics(images, texts, chunk_size=1000)
    np.testing.assert_array_equal(
        a["image_to_text_ranks"], b["image_to_text_ranks"]
    )
    assert a["text_to_image"] == b["text_to_image"]


def test_relevance_matrix_and_errors():
    rel = retrieval.relevance_matrix(
        3, text_to_image=[0, 1, 2, 2], text_groups=["x", "y", "x", "z"]
    )
    expected = [
        [1, 0, 1, 0],
        [0, 1, 0, 0],
        [1, 0, 1, 1],
    ]
    np.testing.assert_array_equal(rel.astype(int), expected)
    with pytest.raises(ValueError, match=r"text_to_image\[1\] = 5"):
        retrieval.relevance_matrix(3, text_to_image=[0, 5])
    with pytest.raises(ValueError, match="pass text_to_image"):
        retrieval.retrieval_metrics(np.eye(3), np.eye(2, 3))
    with pytest.raises(ValueError, match="image 2 has no report"):
        retrieval.retrieval_metrics(
            np.eye(3), np.eye(2, 3), text_to_image=[0, 1]
        )
    with pytest.raises(ValueError, match="d=3 but text embeddings d=2"):
        retrieval.retrieval_metrics(np.eye(3), np.ones((3, 2)))
