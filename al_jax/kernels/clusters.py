"""Helpers every clustering kernel shares (HAC exact, multi-round and
cluster assignment; the k-means family to come): input checks, canonical
labels, centroids, and the warning for a cluster that swallows the pool.

Dimensions: N points, D embedding width, K clusters.
"""

import math
import warnings

import numpy as np


def check_embeddings(x, name: str = 'x') -> np.ndarray:
  """Returns `x` as a [N, D] array; raises ValueError on bad shape or values."""
  x = np.asarray(x)
  if x.ndim != 2 or x.shape[0] == 0:
    raise ValueError(f'{name} must be a non-empty [N, D] array, got shape '
                     f'{x.shape}.')
  if not np.issubdtype(x.dtype, np.number):
    raise ValueError(f'{name} must be numeric, got dtype {x.dtype}.')
  if not np.all(np.isfinite(x)):
    bad = np.flatnonzero(~np.all(np.isfinite(x), axis=1))
    raise ValueError(f'{name} has NaN/inf values in {bad.size} rows (first: '
                     f'{bad[:5].tolist()}); clean the embeddings first.')
  return x


def l2_normalized(x) -> np.ndarray:
  """[N, D] float32 rows scaled to unit L2 norm (zero rows stay zero)."""
  x = np.asarray(x, np.float32)
  norm = np.linalg.norm(x, axis=1, keepdims=True)
  return x / np.where(norm > 0, norm, 1)


def distinct_rows(x) -> int:
  """Number of distinct rows of a [N, D] array (bitwise)."""
  x = np.ascontiguousarray(x)
  return len(np.unique(x.view(np.dtype((np.void, x.dtype.itemsize *
                                        x.shape[1]))).reshape(-1)))


def check_threshold(value, name: str = 'eps') -> float:
  """Returns `value` as a float; raises ValueError unless it is > 0 (inf ok)."""
  value = float(value)
  if math.isnan(value) or value <= 0:
    raise ValueError(f'{name} must be > 0, got {value}.')
  return value


def canonical_labels(labels) -> np.ndarray:
  """Relabels clusters 0..K-1 in order of first appearance.

  Args:
    labels: [N] integer cluster ids.

  Returns:
    [N] int64 labels; two partitions are equal iff their canonical labels are.
  """
  labels = np.asarray(labels)
  _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
  rank = np.empty(first.size, np.int64)
  rank[np.argsort(first, kind='stable')] = np.arange(first.size)
  return rank[inverse.reshape(-1)]


def warn_if_giant(labels: np.ndarray, what: str = 'eps') -> None:
  """Warns with a cluster-size histogram if one cluster has > half the points.

  Such a cluster means the threshold is too large for Cluster-Margin's
  round-robin sampling to diversify anything.
  """
  sizes = np.bincount(labels)
  n = labels.size
  if n < 3 or sizes.max() * 2 <= n:
    return
  edges = [1, 2, 5, 10, 100, 1_000, 10_000, 100_000, np.inf]
  counts, _ = np.histogram(sizes, bins=edges)
  hist = ', '.join(f'[{lo:g},{hi:g}): {c}'
                   for lo, hi, c in zip(edges[:-1], edges[1:], counts) if c)
  warnings.warn(
      f'One cluster holds {sizes.max()} of {n} points ({sizes.max() / n:.0%}):'
      f' {what} is probably too large. {sizes.size} clusters; cluster-size '
      f'histogram {{size range: number of clusters}} = {hist}.',
      stacklevel=3)


def centroids(x: np.ndarray, labels: np.ndarray) -> np.ndarray:
  """[K, D] float64 mean of each cluster's rows; labels [N] in [0, K)."""
  sums = np.zeros((int(labels.max()) + 1, x.shape[1]))
  np.add.at(sums, labels, x)
  return sums / np.bincount(labels)[:, None]
