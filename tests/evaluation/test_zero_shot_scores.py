"""Zero-shot probabilities and AUROC on embeddings with known answers."""

import numpy as np
import pytest

from keras_clinclip.evaluation import zero_shot

pytestmark = pytest.mark.backend_independent


def unit(x):
    x = np.asarray(x, dtype=np.float64)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_scores_equal_a_softmax_over_each_pair():
    rng = np.random.default_rng(0)
    images = rng.normal(size=(5, 4))
    pos = rng.normal(size=(3, 4))
    neg = rng.normal(size=(3, 4))
    scale = 7.0
    p = zero_shot.zero_shot_scores(images, pos, neg, logit_scale=scale)
    a = np.exp(scale * unit(images) @ unit(pos).T)
    b = np.exp(scale * unit(images) @ unit(neg).T)
    np.testing.assert_allclose(p, a / (a + b), rtol=1e-10)


def test_phrasings_are_ensembled_in_embedding_or_probability_space():
    rng = np.random.default_rng(1)
    images = rng.normal(size=(4, 6))
    pos = rng.normal(size=(2, 3, 6))
    neg = rng.normal(size=(2, 3, 6))
    by_embedding = zero_shot.zero_shot_scores(images, pos, neg, 5.0)
    mean_pos = unit(unit(pos).mean(axis=1))
    mean_neg = unit(unit(neg).mean(axis=1))
    np.testing.assert_allclose(
        by_embedding,
        zero_shot.zero_shot_scores(images, mean_pos, mean_neg, 5.0),
    )
    by_probability = zero_shot.zero_shot_scores(
        images, pos, neg, 5.0, ensemble="probability"
    )
    expected = np.mean(
        [
            zero_shot.zero_shot_scores(images, pos[:, k], neg[:, k], 5.0)
            for k in range(3)
        ],
        axis=0,
    )
    np.testing.assert_allclose(by_probability, expected)
    # Ragged phrasings per finding are accepted as a list.
    ragged = zero_shot.zero_shot_scores(
        images, [pos[0], pos[1, :2]], [neg[0], neg[1, :1]], 5.0
    )
    assert ragged.shape == (4, 2)


def test_known_answer_gives_perfect_auroc_and_no_finding_class_is_nan():
    # Finding directions e0, e1, e2; images carry the findings they have.
    labels = np.array(
        [
            [1.0, 0.0, 0.0],
            [0.0, 1.0, 0.0],
            [1.0, 1.0, np.nan],
            [0.0, np.nan, 0.0],
            [-1.0, 0.0, 0.0],
        ]
    )
    eye = np.eye(4)
    images = (labels == 1.0) @ eye[:3] + 0.5 * eye[3]
    pos = eye[:3]
    neg = -eye[:3]
    with pytest.warns(UserWarning, match="'Edema'.*no positive"):
        result = zero_shot.zero_shot_evaluate(
            images,
            labels,
            pos,
            neg,
            ["Atelectasis", "Cardiomegaly", "Edema"],
            logit_scale=10.0,
            n_bootstrap=20,
        )
    assert result["per_class"]["Atelectasis"]["auroc"] == 1.0
    assert result["per_class"]["Cardiomegaly"]["auroc"] == 1.0
    assert np.isnan(result["per_class"]["Edema"]["auroc"])
    assert result["macro"]["auroc"] == 1.0
    # The uncertain study is left out by default.
    assert result["per_class"]["Atelectasis"]["n_negative"] == 2
    assert result["scores"].shape == (5, 3)
    # Swapping the prompts turns a perfect classifier into a perfectly
    # wrong one.
    swapped = zero_shot.zero_shot_evaluate(
        images[:, :], labels[:, :2], neg[:2], pos[:2], n_bootstrap=0
    )
    assert swapped["macro"]["auroc"] == 0.0


def test_shape_errors_name_the_argument():
    with pytest.raises(ValueError, match="image_embeddings must be"):
        zero_shot.zero_shot_scores(np.ones(3), np.ones((1, 3)), np.ones((1, 3)))
    with pytest.raises(ValueError, match="2 findings have positive"):
        zero_shot.zero_shot_scores(
            np.ones((2, 3)), np.ones((2, 3)), np.ones((1, 3))
        )
    with pytest.raises(ValueError, match="d=2/2 but image embeddings d=3"):
        zero_shot.zero_shot_scores(
            np.ones((2, 3)), np.ones((1, 2)), np.ones((1, 2))
        )
    with pytest.raises(ValueError, match="labels have shape"):
        zero_shot.zero_shot_evaluate(
            np.ones((2, 3)), np.ones((3, 1)), np.ones((1, 3)), np.ones((1, 3))
        )
