"""Pooled average precision, the Open Images metric of paper 000 section 3.2.

All annotated (image, class) pairs of the test set are pooled into one binary
ranking problem (Dave et al. 2021), scored by their logits, and summarized by
average precision with scikit-learn's definition (no interpolation):

  AP = Σ_n (R_n − R_{n−1}) P_n

over the distinct score thresholds in decreasing order, where tied scores
enter together. Logits rather than sigmoid probabilities are ranked: the
order is the same, but float32 sigmoids saturate at 1 and would create ties.
"""

import numpy as np


def average_precision(scores: np.ndarray, positive: np.ndarray) -> float:
  """AP of a ranking. scores: [M] float; positive: [M] bool."""
  scores = np.asarray(scores, np.float64)
  positive = np.asarray(positive, bool)
  n_pos = int(positive.sum())
  if n_pos == 0:
    raise ValueError('average precision needs at least one positive.')
  order = np.argsort(-scores, kind='stable')
  scores, positive = scores[order], positive[order]
  # The last position of each run of tied scores is a threshold.
  last = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]
  tp = np.cumsum(positive)[last]
  precision = tp / (last + 1)
  recall_step = np.diff(np.r_[0, tp]) / n_pos
  return float(np.sum(recall_step * precision))


def pooled_average_precision(logits: np.ndarray, labels: np.ndarray) -> float:
  """AP over all annotated pairs.

  Args:
    logits: [N, C] per-class logits.
    labels: [N, C] int in {-1 unannotated, 0 negative, 1 positive}.
  """
  annotated = labels >= 0
  if not annotated.any():
    raise ValueError('pooled average precision of a test set without '
                     'annotated pairs.')
  return average_precision(logits[annotated], labels[annotated] == 1)
