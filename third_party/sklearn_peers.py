"""scikit-learn: the k-means++ seeding and nearest-centroid peers.

Dimensions: N points, D features, K centres.
"""

import numpy as np


def d2_seeding(x, k: int, seed: int = 0) -> np.ndarray:
  """[K] int64 rows chosen by plain D² sampling (k-means++ with one trial).

  scikit-learn's default draws 2 + log K candidates per step (greedy
  k-means++); n_local_trials=1 is the D² sampling of BADGE and paper 001.
  """
  from sklearn.cluster import kmeans_plusplus  # pylint: disable=g-import-not-at-top
  return np.asarray(kmeans_plusplus(np.asarray(x), k, random_state=seed,
                                    n_local_trials=1)[1], np.int64)


def nearest_centroid(x, centroids) -> tuple[np.ndarray, np.ndarray]:
  """([N] int64 index of the nearest centroid, [N] its Euclidean distance)."""
  from sklearn.metrics import pairwise_distances_argmin_min  # pylint: disable=g-import-not-at-top
  idx, dist = pairwise_distances_argmin_min(x, centroids)
  return np.asarray(idx, np.int64), dist
