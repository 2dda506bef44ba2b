"""Paper 004's subsampling approximation (Algorithms 6 and 8; wave2.md 3.3,
3.4): score only a Bernoulli(α) subset exactly, regress the scores' ranks
on the features with a random forest, and rank everyone by the forest.

  mask_i ~ Bernoulli(α)                    (|subset| is random, as written)
  r_i = ascending rank of score_i over the subset (0 = smallest)
  h = RandomForestRegressor(T trees).fit(features[subset], r)
  r̂ = h(features) for every row (subset rows too); select the largest r̂.

The forest sees features only (the algorithm's letter: no label, even though
FI-util depends on it; pitfall 9). T and α are not given in the paper:
T = 100, α = 0.2 ("e.g. 20%") by default.

Dimensions: N rows, F features.
"""

import jax
import numpy as np
from sklearn import ensemble

TREES = 100


def bernoulli_subset(key: jax.Array, n: int, alpha: float) -> np.ndarray:
  """[m] sorted rows kept independently with probability alpha (at least 2,
  so that a forest can be fit)."""
  if not 0 < alpha <= 1:
    raise ValueError(f'subsample fraction alpha={alpha}: want 0 < alpha <= 1.')
  keep = np.flatnonzero(np.asarray(jax.random.bernoulli(key, alpha, (n,))))
  if len(keep) < 2:
    keep = np.sort(np.asarray(jax.random.choice(key, n, (min(2, n),),
                                                replace=False)))
  return keep


def predicted_ranks(features_subset, scores_subset, features, seed: int,
                    trees: int = TREES) -> np.ndarray:
  """[N] the forest's rank of every row (module doc).

  Args:
    features_subset: [m, F] the scored rows' features.
    scores_subset: [m] their exact scores.
    features: [N, F] every row's features.
    seed: the forest's random_state.
  """
  ranks = np.argsort(np.argsort(np.asarray(scores_subset), kind='stable'),
                     kind='stable').astype(np.float64)
  flat = lambda a: np.asarray(a, np.float64).reshape(len(a), -1)
  forest = ensemble.RandomForestRegressor(n_estimators=trees,
                                          random_state=seed)
  return forest.fit(flat(features_subset), ranks).predict(flat(features))
