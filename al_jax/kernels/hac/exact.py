"""Exact average-linkage HAC cut at a distance threshold (paper 000, Alg. 1).

Algorithm 1 merges the closest pair of clusters while their average-linkage
distance d(A, B) = mean_{a in A, b in B} ||a - b|| is at most eps. Average
linkage is reducible (d(A u B, C) >= min(d(A, C), d(B, C))), so the
nearest-neighbour chain algorithm finds the same merges as the greedy loop in
O(N^2) time instead of O(N^3); a cluster whose nearest neighbour is farther than
eps can never merge again and is retired early.

Where this runs: the N x N distance matrix is one float64 BLAS product (numpy;
float64 so that partitions match scipy's, which uses float64 throughout). The
chain itself is inherently sequential (each step depends on the previous
merge), so it is a Python loop over O(N) numpy row operations, not a jax
kernel. Memory is one N x N float64 matrix (3.2 GB at N = 20,000); use
`multiround.hac_multiround` (O(N k) memory) beyond that.

Dimensions: N points, D embedding dimension, K clusters.
"""

import math

import numpy as np

from al_jax.kernels.clusters import canonical_labels
from al_jax.kernels.clusters import check_embeddings
from al_jax.kernels.clusters import check_threshold
from al_jax.kernels.clusters import warn_if_giant

# Above this many points the exact path's N x N matrix is refused unless asked.
MAX_EXACT_POINTS = 30_000


def _distance_matrix(x: np.ndarray, block: int = 4096) -> np.ndarray:
  """[N, N] float64 Euclidean distances, diagonal inf.

  Filled in row blocks, one BLAS product each: a single multithreaded
  [N, D] x [D, N] product segfaults in OpenBLAS 0.3.31 from N ~ 23,000.
  """
  x = np.asarray(x, np.float64)
  x = x - x.mean(axis=0)  # Smaller norms, less cancellation in the expansion.
  sq = np.einsum('ij,ij->i', x, x)
  xt = np.ascontiguousarray(x.T)
  dist = np.empty((len(x), len(x)))
  for start in range(0, len(x), block):
    rows = dist[start:start + block]
    np.matmul(x[start:start + block], xt, out=rows)
    rows *= -2.0
    rows += sq[start:start + block, None]
    rows += sq[None, :]
  np.maximum(dist, 0.0, out=dist)
  np.sqrt(dist, out=dist)
  np.fill_diagonal(dist, np.inf)
  return dist


def _nn_chain(dist: np.ndarray, eps: float):
  """Average-linkage merges of height <= eps by the nearest-neighbour chain.

  Args:
    dist: [N, N] float64 distances with an inf diagonal; overwritten.
    eps: merge threshold (inf: the full dendrogram).

  Returns:
    (parent [N] int64 union-find forest over points, heights [M] float64 of
    the M merges performed, in the order performed).
  """
  n = dist.shape[0]
  ids = np.arange(n)  # Matrix slot -> id of the point that names its cluster.
  size = np.ones(n)
  alive = np.ones(n, bool)
  parent = np.arange(n)
  heights = []
  chain = []
  n_alive, start = n, 0
  while n_alive > 1:
    if not chain:
      while not alive[start]:
        start += 1
      chain.append(start)
    a = chain[-1]
    row = np.where(alive, dist[a], np.inf)
    b = int(np.argmin(row))
    d = row[b]
    if len(chain) > 1 and row[chain[-2]] <= d:
      b = chain[-2]  # Ties must close the chain, or it can cycle.
    if d > eps:
      # Reducibility: every chain member's nearest cluster is at least this
      # far and merges elsewhere only move clusters away, so all are final.
      alive[chain] = False
      n_alive -= len(chain)
      chain = []
      continue
    if len(chain) > 1 and b == chain[-2]:
      chain.pop()
      chain.pop()
      keep, drop = min(a, b), max(a, b)
      merged = (size[a] * dist[a] + size[b] * dist[b]) / (size[a] + size[b])
      merged[keep] = np.inf
      dist[keep] = merged
      dist[:, keep] = merged
      size[keep] += size[drop]
      alive[drop] = False
      n_alive -= 1
      parent[ids[drop]] = ids[keep]
      heights.append(d)
      if n_alive * 2 < dist.shape[0] and dist.shape[0] > 1024:
        # Compacting halves the strided column writes that dominate the loop.
        slots = np.flatnonzero(alive)
        new_slot = np.cumsum(alive) - 1
        chain = [int(new_slot[c]) for c in chain]
        dist = dist[np.ix_(slots, slots)]
        ids, size, alive = ids[slots], size[slots], alive[slots]
        start = 0
    else:
      chain.append(b)
  while True:  # Pointer jumping: every point to its cluster's root.
    grand = parent[parent]
    if np.array_equal(grand, parent):
      return parent, np.asarray(heights, np.float64)
    parent = grand


def _check_exact_size(n: int, allow_large: bool) -> None:
  if n > MAX_EXACT_POINTS and not allow_large:
    gib = n * n * 8 / 2**30
    raise ValueError(
        f'Exact HAC on {n} points needs an N x N float64 matrix ({gib:.1f} '
        f'GiB); use hac_multiround, or pass allow_large=True.')


def hac_average(x, eps: float, *, allow_large: bool = False) -> np.ndarray:
  """Exact average-linkage HAC stopped at threshold eps (Algorithm 1).

  Equals scipy.cluster.hierarchy.fcluster(linkage(x, 'average'), eps,
  'distance') on data without tied distances, up to relabeling.

  Args:
    x: [N, D] embeddings (any float dtype; computed in float64).
    eps: > 0; clusters merge while their mean pairwise Euclidean distance is
      <= eps.
    allow_large: permit N > MAX_EXACT_POINTS (O(N^2) memory).

  Returns:
    [N] int64 labels 0..K-1 in order of first appearance.

  Raises:
    ValueError: NaN/inf embeddings, eps <= 0, or N too large.
  """
  x = check_embeddings(x)
  eps = check_threshold(eps)
  _check_exact_size(x.shape[0], allow_large)
  if x.shape[0] == 1:
    return np.zeros(1, np.int64)
  parent, _ = _nn_chain(_distance_matrix(x), eps)
  labels = canonical_labels(parent)
  warn_if_giant(labels)
  return labels


def average_linkage_heights(x, *, allow_large: bool = False) -> np.ndarray:
  """Sorted heights of the N - 1 merges of the full average-linkage tree.

  Args:
    x: [N, D] embeddings.
    allow_large: permit N > MAX_EXACT_POINTS.

  Returns:
    [N - 1] float64 ascending; cutting at eps leaves N - #(heights <= eps)
    clusters.
  """
  x = check_embeddings(x)
  _check_exact_size(x.shape[0], allow_large)
  if x.shape[0] == 1:
    return np.zeros(0)
  _, heights = _nn_chain(_distance_matrix(x), np.inf)
  return np.sort(heights)


def eps_exact(x, target: float) -> float:
  """Smallest eps whose exact clusters have average size >= target.

  Reads the answer off the full average-linkage tree: K clusters need N - K
  merges, so eps is the (N - floor(N / target))-th smallest merge height;
  `hac_average(x, eps)` then meets the target exactly.

  Args:
    x: [N, D] embeddings, checked.
    target: wanted average cluster size N / K, in [1, N].

  Returns:
    eps > 0 (float).
  """
  n = x.shape[0]
  heights = average_linkage_heights(x)
  merges_needed = n - math.floor(n / target + 1e-9)
  if merges_needed == 0:
    positive = heights[heights > 0]
    return float(positive[0] / 2) if positive.size else 1.0
  eps = float(heights[merges_needed - 1])
  return eps if eps > 0 else float(np.finfo(np.float64).tiny)
