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
