"""Cluster assignment (paper 000, appendix A.2): HAC on the seed set only,
then every other point joins its nearest seed-cluster centroid if it lies
within eps_c. Clustering costs O(|P|² log |P| + |C_P| |X \\ P|) instead of
O(n² log n); the assignment is one blocked nearest-centroid pass
(`knn.nearest_centroid`), split over the mesh.

Dimensions: N points, D embedding width, S seed points, K seed clusters.
"""

import math
import warnings

import jax
import numpy as np

from al_jax.kernels import clusters
from al_jax.kernels import knn
from al_jax.kernels.hac import dispatch


def _seed_clusters(x, seed_mask, eps, method, mesh, multiround_kwargs):
  """HAC on the seeds; returns (seed labels [S], K, dist [R], idx [R]) where
  dist/idx are each non-seed point's nearest seed-cluster centroid."""
  x = clusters.check_embeddings(x)
  seed_mask = np.asarray(seed_mask)
  if seed_mask.shape != (x.shape[0],) or seed_mask.dtype != bool:
    raise ValueError(f'seed_mask must be [N={x.shape[0]}] bool, got '
                     f'{seed_mask.shape} {seed_mask.dtype}.')
  if not seed_mask.any():
    raise ValueError('seed_mask selects no points.')
  seeds = x[seed_mask]
  dispatch.resolve(method, len(seeds))  # Named before any work.
  with warnings.catch_warnings():
    warnings.simplefilter('ignore')  # Judged on the final clusters instead.
    seed_labels = dispatch.cluster(seeds, eps, method, mesh,
                                   **multiround_kwargs)
  n_clusters = int(seed_labels.max()) + 1
  dist, idx = knn.nearest_centroid(
      x[~seed_mask], clusters.centroids(seeds, seed_labels), mesh)
  return seed_labels, n_clusters, dist, idx


def hac_assign(x, seed_mask, eps: float, eps_c: float | None = None,
               method: str = 'auto', mesh: jax.sharding.Mesh | None = None,
               target: float | None = None,
               **multiround_kwargs) -> np.ndarray:
  """Cluster assignment (A.2): HAC on the seed set, the rest to centroids.

  Each non-seed point joins the seed cluster with the nearest centroid if it
  is within eps_c. The paper does not say what happens to the others; here
  each becomes its own singleton cluster, so every pool point has a cluster
  for Cluster-Margin's round-robin sampling and far-away (novel) points stay
  maximally diverse.

  Args:
    x: [N, D] embeddings.
    seed_mask: [N] bool, the seed set P (S = seed_mask.sum()).
    eps: > 0 HAC threshold on the seeds.
    eps_c: > 0 assignment radius (Euclidean, to the centroid); None picks
      the smallest radius whose clusters average `target` points (see
      `eps_c_for_average_size`), from the same seed clustering.
    method: HAC on the seeds: 'exact', 'multiround', or 'auto' (exact up to
      hac.MAX_EXACT_POINTS seeds).
    mesh: optional mesh for the assignment (and multi-round k-NN).
    target: the wanted mean cluster size when eps_c is None.
    **multiround_kwargs: k, tau, rounds for 'multiround'.

  Returns:
    [N] int64 labels 0..K-1 in order of first appearance.
  """
  eps = clusters.check_threshold(eps)
  if eps_c is None and target is None:
    raise ValueError('hac_assign needs eps_c or a target mean cluster size.')
  seed_labels, n_clusters, dist, idx = _seed_clusters(
      x, seed_mask, eps, method, mesh, multiround_kwargs)
  if eps_c is None:
    eps_c = _eps_c(dist, len(seed_mask), n_clusters, target)
  eps_c = clusters.check_threshold(eps_c, 'eps_c')
  far = dist > eps_c
  rest = np.where(far, n_clusters + np.cumsum(far) - 1, idx)
  labels = np.empty(seed_mask.shape[0], np.int64)
  labels[seed_mask] = seed_labels
  labels[~seed_mask] = rest
  labels = clusters.canonical_labels(labels)
  clusters.warn_if_giant(labels, 'eps or eps_c')
  return labels


def eps_c_for_average_size(x, seed_mask, eps: float, target: float,
                           method: str = 'auto',
                           mesh: jax.sharding.Mesh | None = None,
                           **multiround_kwargs) -> float:
  """Smallest eps_c with mean cluster size >= target for `hac_assign`.

  With K seed clusters and U unassigned (singleton) points the mean size is
  N / (K + U), so U may be at most floor(N / target) - K: eps_c is read off
  the sorted nearest-centroid distances, exactly (as the paper picks eps_c).

  Returns:
    eps_c > 0 (float). Raises ValueError if K alone exceeds N / target
    (raise eps instead).
  """
  _, n_clusters, dist, _ = _seed_clusters(
      x, seed_mask, clusters.check_threshold(eps), method, mesh, multiround_kwargs)
  return _eps_c(dist, np.asarray(seed_mask).shape[0], n_clusters, target)


def _eps_c(dist: np.ndarray, n: int, n_clusters: int, target: float) -> float:
  """`eps_c_for_average_size` from the non-seeds' centroid distances."""
  allowed = math.floor(n / float(target) + 1e-9) - n_clusters
  if allowed < 0:
    raise ValueError(f'The seeds alone form {n_clusters} clusters > N / target'
                     f' = {n / target:.1f}; use a larger eps.')
  dist = np.sort(dist)
  if allowed >= dist.size:
    return float(dist[0] / 2) if dist.size and dist[0] > 0 else 1e-12
  return max(float(dist[dist.size - allowed - 1]), 1e-12)
