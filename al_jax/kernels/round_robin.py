"""Cluster-Margin's diversification step (paper 000, Algorithm 2, lines 9-19).

Dimensions: M candidates (the k_m lowest-margin examples), K_t target batch.
"""

import jax
import numpy as np


def round_robin(clusters: np.ndarray, k: int, key: jax.Array,
                sizes: np.ndarray | None = None) -> np.ndarray:
  """Round-robin sampling over clusters, smallest cluster first.

  Clusters are sorted by ascending size; one random member is taken from each
  in turn, and after the largest the pass returns to the smallest cluster that
  still has members, until `k` are taken. Equivalently: shuffle the members
  of each cluster, give each member its rank r within its cluster, and take
  the first `k` members in the order (r, cluster position). This is O(M log M)
  and exact.

  "Cluster size" is `sizes` when given (e.g. each cluster's size in the
  whole pool, C_X), else the size of the cluster restricted to the
  candidates. A cluster is saturated when its candidates are used up, so
  the passes are the same either way; only their order differs. Clusters
  of equal size are ordered at random (the paper leaves ties open).

  Args:
    clusters: [M] int cluster id of each candidate.
    k: number to take, k <= M.
    key: PRNG key for the within-cluster choice and size ties.
    sizes: optional [M] size to sort each candidate's cluster by (equal for
      the members of one cluster).

  Returns:
    [k] int64 positions into `clusters`, in the order they were taken.
  """
  m = len(clusters)
  if k > m:
    raise ValueError(f'round_robin: k={k} exceeds the {m} candidates.')
  rng = np.random.default_rng(np.asarray(jax.random.key_data(key)).ravel())
  ids, first, inverse, counts = np.unique(
      clusters, return_index=True, return_inverse=True, return_counts=True)
  key_sizes = counts if sizes is None else np.asarray(sizes)[first]
  # Position of each cluster in the sorted order: by size, ties at random.
  order = np.lexsort((rng.permutation(len(ids)), key_sizes))
  position = np.empty(len(ids), np.int64)
  position[order] = np.arange(len(ids))
  # Random rank of each candidate within its cluster.
  shuffled = rng.permutation(m)
  by_cluster = shuffled[np.argsort(inverse[shuffled], kind='stable')]
  starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
  rank = np.empty(m, np.int64)
  rank[by_cluster] = np.arange(m) - np.repeat(starts, counts)
  taken = np.lexsort((position[inverse], rank))
  return taken[:k].astype(np.int64)
