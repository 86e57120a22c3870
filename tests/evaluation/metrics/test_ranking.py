"""First relevant ranks (ties pessimistic) and Recall@K."""

import numpy as np
import pytest

from keras_clinclip.evaluation import metrics

pytestmark = pytest.mark.backend_independent


def test_first_relevant_ranks_match_a_sorting_reference():
    rng = np.random.default_rng(0)
    sim = rng.integers(0, 4, size=(30, 12)).astype(float)  # heavy ties
    rel = rng.random((30, 12)) < 0.2
    rel[np.arange(30), rng.integers(0, 12, 30)] = True
    for ties, relevant_first in (("pessimistic", 1), ("optimistic", 0)):
        ranks = metrics.first_relevant_ranks(sim, rel, ties)
        for q in range(30):
            # Sort by score, breaking ties by relevance as the rule says.
            order = sorted(
                range(12),
                key=lambda k: (
                    -sim[q, k],
                    rel[q, k] if relevant_first else not rel[q, k],
                ),
            )
            expected = 1 + min(i for i, k in enumerate(order) if rel[q, k])
            assert ranks[q] == expected


def test_first_relevant_ranks_needs_a_relevant_candidate():
    with pytest.raises(ValueError, match="query 1 has no relevant"):
        metrics.first_relevant_ranks(
            [[0.1, 0.2], [0.3, 0.4]], [[True, False], [False, False]]
        )


def test_recall_at_k():
    assert metrics.recall_at_k([1, 1, 3, 11], ks=(1, 5, 10)) == {
        1: 0.5,
        5: 0.75,
        10: 0.75,
    }
