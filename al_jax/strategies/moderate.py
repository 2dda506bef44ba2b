"""Moderate coreset (Xia et al. 2023), a baseline of paper 002 (section 5).

Each example's score is the Euclidean distance of its feature vector to the
median feature vector of its class (coordinate-wise median); examples with
moderate scores are kept: all scores are sorted and the middle band of the
budget's size, centred on the median score, is selected (as the authors'
code does, over all classes at once).

Dimensions: N pool, D feature width, M budget.
"""

import numpy as np

from al_jax.strategies import base

OPTIONS = {}
NEEDS = (base.EMBEDDINGS, base.LABELS)


def distances_to_class_median(features: np.ndarray,
                              labels: np.ndarray) -> np.ndarray:
  """[N] distance of each row of `features` [N, D] to its class median."""
  features = np.asarray(features, np.float64)
  if not np.isfinite(features).all():
    raise ValueError('Moderate: features contain NaN or infinite values.')
  labels = np.asarray(labels)
  out = np.empty(len(labels))
  for c in np.unique(labels):
    rows = labels == c
    median = np.median(features[rows], axis=0)
    out[rows] = np.linalg.norm(features[rows] - median, axis=1)
  return out


def select(features: np.ndarray, labels: np.ndarray,
           budget: int) -> np.ndarray:
  """[M] ascending indices of the middle band of distances."""
  scores = distances_to_class_median(features, labels)
  n = len(scores)
  if not 0 <= budget <= n:
    raise ValueError(f'budget {budget} must be in [0, {n}].')
  order = np.argsort(scores, kind='stable')
  start = (n - budget) // 2
  return np.sort(order[start:start + budget])


def make() -> base.Strategy:

  def select_(state, ctx: base.Context, budget: int, key):
    del key
    rows = ctx.candidate_indices
    return base.Selection(rows[select(ctx.embeddings()[rows],
                                      ctx.labels[rows], budget)]), state

  return base.Strategy(base.no_state, select_)
