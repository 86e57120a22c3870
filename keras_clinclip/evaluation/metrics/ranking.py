"""Retrieval ranks: the first relevant candidate of each query, Recall@K.

Pure numpy. Ties between the best relevant candidate and irrelevant ones
are broken pessimistically by default, so that a collapsed model that
scores every pair alike gets the worst rank, not the best.
"""

import numpy as np


def first_relevant_ranks(similarity, relevance, ties="pessimistic"):
    """The rank of the best-ranked relevant candidate of each query.

    Rank 1 means a relevant candidate scored highest. Relevant candidates
    never push each other down (any one of them counts as a hit). Ties
    between the best relevant candidate and irrelevant ones are broken
    `"pessimistic"`-ally by default (the irrelevant ones come first, so a
    collapsed model that gives every pair the same score gets the worst
    rank, not the best) or `"optimistic"`-ally.

    Args:
        similarity: (Q, K) scores of Q queries against K candidates.
        relevance: (Q, K) booleans, True where the candidate is relevant.
            Each query needs at least one relevant candidate.
        ties: `"pessimistic"` or `"optimistic"`.

    Returns:
        int64 (Q,) ranks in 1..K.

    Example:
    >>> sim = [[0.9, 0.5, 0.1], [0.2, 0.2, 0.6]]
    >>> rel = [[False, True, False], [True, False, False]]
    >>> first_relevant_ranks(sim, rel).tolist()
    [2, 3]
    >>> first_relevant_ranks(sim, rel, ties="optimistic").tolist()
    [2, 2]
    """
    similarity = np.asarray(similarity, dtype=np.float64)
    relevance = np.asarray(relevance, dtype=bool)
    if similarity.ndim != 2 or similarity.shape != relevance.shape:
        raise ValueError(
            f"similarity {similarity.shape} and relevance "
            f"{relevance.shape} must be equal (Q, K) matrices"
        )
    if ties not in ("pessimistic", "optimistic"):
        raise ValueError(
            f"ties must be 'pessimistic' or 'optimistic', got {ties!r}"
        )
    has_relevant = relevance.any(axis=1)
    if not has_relevant.all():
        row = int(np.flatnonzero(~has_relevant)[0])
        raise ValueError(f"query {row} has no relevant candidate")
    best = np.where(relevance, similarity, -np.inf).max(axis=1)
    irrelevant = ~relevance
    above = (similarity > best[:, None]) & irrelevant
    ranks = 1 + above.sum(axis=1)
    if ties == "pessimistic":
        ranks = ranks + ((similarity == best[:, None]) & irrelevant).sum(1)
    return ranks.astype(np.int64)


def recall_at_k(ranks, ks=(1, 5, 10)):
    """Share of queries whose first relevant candidate is in the top K.

    Args:
        ranks: (Q,) ranks from `first_relevant_ranks`.
        ks: the cut-offs.

    Returns:
        dict `{k: recall}` with floats in [0, 1].

    Example:
    >>> recall_at_k([1, 2, 7, 30], ks=(1, 5))
    {1: 0.25, 5: 0.5}
    """
    ranks = np.asarray(ranks)
    if ranks.size == 0:
        raise ValueError("recall_at_k needs at least one rank")
    return {int(k): float(np.mean(ranks <= k)) for k in ks}
