"""k-NN classifier accuracy of frozen features (cosine similarity).

The usual check of self-supervised features (InstDisc, SimCLR and MoCo
report a k-NN monitor beside the linear probe): each test row takes the
majority label of its k most cosine-similar training rows. Both sides are
L2-normalised, so the Euclidean nearest rows (`kernels.knn.nearest_points`,
exact, in blocks) are the cosine nearest ones.

Tie rule (deterministic): among the classes with the most votes, the one
whose first vote is the nearest neighbour wins, i.e. the class that appears
earliest in the neighbour list; neighbours at equal distance are ordered by
the lower training row (`nearest_points`). With k = 1 this is 1-NN.

Dimensions: N training rows, Q test rows, D features, C classes.
"""

import numpy as np

from al_jax.kernels import knn


def _unit_rows(x) -> np.ndarray:
  """Rows scaled to unit L2 norm; all-zero rows stay zero."""
  x = np.asarray(x, np.float32)
  norm = np.linalg.norm(x, axis=1, keepdims=True)
  return x / np.maximum(norm, 1e-12)


def vote(neighbour_labels: np.ndarray, num_classes: int) -> np.ndarray:
  """Majority label of each row, ties to the class voted for earliest.

  Args:
    neighbour_labels: [Q, k] int labels in [0, C), nearest first.
    num_classes: C.

  Returns:
    [Q] int32 predicted labels.
  """
  q, k = neighbour_labels.shape
  rows = np.arange(q)
  counts = np.zeros((q, num_classes), np.int64)
  np.add.at(counts, (rows[:, None], neighbour_labels), 1)
  first = np.full((q, num_classes), k, np.int64)  # Rank of the first vote.
  for r in range(k - 1, -1, -1):
    first[rows, neighbour_labels[:, r]] = r
  # Most votes first, then the earliest first vote: one integer key.
  return np.argmax(counts * (k + 1) - first, axis=1).astype(np.int32)


def knn_predict(train_features, train_labels, test_features, k: int = 20,
                num_classes: int | None = None) -> np.ndarray:
  """Cosine k-NN majority-vote labels of the test rows.

  Args:
    train_features: [N, D]; train_labels: [N] int in [0, C).
    test_features: [Q, D].
    k: neighbours (clipped to N).
    num_classes: C; None: 1 + the largest training label.

  Returns:
    [Q] int32 predicted labels.
  """
  train_labels = np.asarray(train_labels)
  if train_labels.ndim != 1 or len(train_labels) != len(train_features):
    raise ValueError(f'knn: {len(train_features)} training rows but labels '
                     f'of shape {train_labels.shape}.')
  if len(train_labels) == 0 or train_labels.min() < 0:
    raise ValueError('knn: needs training rows with labels >= 0.')
  if k < 1:
    raise ValueError(f'knn: k={k} must be >= 1.')
  if num_classes is None:
    num_classes = int(train_labels.max()) + 1
  _, idx = knn.nearest_points(_unit_rows(test_features),
                              _unit_rows(train_features), k)
  return vote(train_labels[idx], num_classes)


def knn_accuracy(train_features, train_labels, test_features, test_labels,
                 k: int = 20, num_classes: int | None = None) -> float:
  """Fraction of test rows whose cosine k-NN vote equals their label.

  Args:
    train_features: [N, D]; train_labels: [N] int.
    test_features: [Q, D]; test_labels: [Q] int.
    k: neighbours (clipped to N).
    num_classes: C; None: 1 + the largest label on either side.

  Returns:
    accuracy in [0, 1].
  """
  test_labels = np.asarray(test_labels)
  if len(test_labels) == 0 or len(test_labels) != len(test_features):
    raise ValueError(f'knn_accuracy: {len(test_features)} test rows, labels '
                     f'of shape {test_labels.shape}.')
  if num_classes is None:
    num_classes = int(max(np.max(train_labels), np.max(test_labels))) + 1
  pred = knn_predict(train_features, train_labels, test_features, k,
                     num_classes)
  return float(np.mean(pred == test_labels))
