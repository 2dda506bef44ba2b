"""Top-1 accuracy."""

import numpy as np


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
  """Fraction of rows whose argmax equals the label.

  Args:
    logits: [N, C].
    labels: [N] int class ids.
  """
  if len(labels) == 0:
    raise ValueError('accuracy() of an empty test set.')
  return float(np.mean(np.argmax(logits, axis=-1) == labels))


def known_accuracy(logits: np.ndarray, labels: np.ndarray) -> float | None:
  """`accuracy` over the rows whose label is known (>= 0); None when none
  is (a test set whose labels people have not given yet).

  Args:
    logits: [N, C].
    labels: [N] int class ids, -1 unknown.
  """
  known = np.asarray(labels) >= 0
  if not known.any():
    return None
  return accuracy(np.asarray(logits)[known], np.asarray(labels)[known])
