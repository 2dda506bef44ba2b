"""Multi-round HAC and cluster assignment for large pools (paper 000, A.2).

Multi-round HAC never holds more than O(N k) distances. Each round builds a
(k, tau)-nearest-neighbour graph on the centroids of the previous round's
clusters (round 0: on the points): an edge joins two centroids if either is
among the other's k nearest and they are at most tau apart. Average-linkage
HAC restricted to the graph's edges then runs to completion at eps, and the
next round repeats on the new centroids until a round merges nothing or
`rounds` rounds have run.

Linkage (the appendix does not say; our choice). Every cluster carries its
size n, centroid mu and spread s2 = mean ||a - mu||^2, and the linkage of A, B
is the root-mean-square pairwise distance

  L(A, B) = sqrt(||mu_A - mu_B||^2 + s2_A + s2_B)
          = sqrt(mean_{a in A, b in B} ||a - b||^2),

i.e. the size-weighted average of all pairwise (squared) distances, exact for
every pair of clusters, not only along graph edges. On singletons it is the
Euclidean distance, so round 0 starts from Algorithm 1's distances exactly,
and it obeys the average-linkage Lance-Williams update (on squares) exactly,
so it is reducible. It differs from Algorithm 1's mean distance only by
Jensen's gap (RMS >= mean), which vanishes as D grows (distances
concentrate); a plain centroid distance would ignore the clusters' spread and
over-merge from round 1 on. Edges only say which pairs may merge. Because
mean ||a - b|| >= ||mu_A - mu_B||, a pair farther apart than eps can never
merge, so tau defaults to eps (larger tau adds useless edges).

Within a round, merges are done in parallel: every cluster finds its nearest
graph neighbour and all reciprocal nearest pairs at L <= eps merge at once.
For a reducible linkage this yields the same merges as the sequential greedy
loop of Algorithm 1 (up to ties); it is a jitted lax.while_loop.

The k-NN graph is exact (`knn.knn`: blocked, its query blocks split over the
mesh). The merge loop runs on one device: its state is O(N k) edges and
O(N D) centroids, and it is not the bottleneck. Graph bookkeeping (dedupe,
relabel) is numpy.

Dimensions: N points, D embedding dimension, K clusters, k neighbours,
E graph edges.
"""

import warnings

import jax
import jax.numpy as jnp
import numpy as np

from al_jax import sharding
from al_jax.kernels import clusters
from al_jax.kernels import knn as knn_lib
from al_jax.kernels import shapes

_EDGE_CHUNK = 65_536  # Edges per gather in the merge loop (bounds memory).


def _graph_edges(dist, idx, tau):
  """Undirected (k, tau)-NN edges u < v, each once. Returns ([E], [E])."""
  n, k = idx.shape
  u = np.repeat(np.arange(n, dtype=np.int64), k)
  v = idx.reshape(-1).astype(np.int64)
  keep = dist.reshape(-1) <= tau
  u, v = u[keep], v[keep]
  key = np.unique(np.minimum(u, v) * n + np.maximum(u, v))
  return (key // n).astype(np.int32), (key % n).astype(np.int32)


def _edge_l2(mu, s2, cu, cv):
  """Squared RMS linkage per edge, gathered in chunks to bound memory."""
  def one(args):
    a, b = args
    diff = mu[a] - mu[b]
    return jnp.sum(diff * diff, -1) + s2[a] + s2[b]
  e = cu.shape[0]
  chunk = min(e, _EDGE_CHUNK)
  out = jax.lax.map(one, (cu.reshape(-1, chunk), cv.reshape(-1, chunk)))
  return out.reshape(e)


@jax.jit
def _merge_round(u, v, valid, cnt, mu, s2, eps2):
  """Graph-restricted average-linkage HAC at eps by reciprocal-NN merging.

  Args:
    u, v: [E] int32 edge endpoints (nodes); valid: [E] bool (padding False).
    cnt: [M] float32 sizes; mu: [M, D] centroids; s2: [M] spreads.
    eps2: eps squared.

  Returns:
    (root [M] int32 cluster node of each node, cnt, mu, s2 updated at roots,
    iterations).
  """
  m = cnt.shape[0]
  ids = jnp.arange(m, dtype=jnp.int32)

  def step(state):
    root, cnt, mu, s2, _, it = state
    cu, cv = root[u], root[v]
    live = valid & (cu != cv)
    l2 = jnp.where(live, _edge_l2(mu, s2, cu, cv), jnp.inf)
    best = jnp.minimum(jax.ops.segment_min(l2, cu, m),
                       jax.ops.segment_min(l2, cv, m))
    # Nearest neighbour, ties to the smallest id so pairs are reciprocal.
    nb = jnp.minimum(
        jax.ops.segment_min(jnp.where(live & (l2 == best[cu]), cv, m), cu, m),
        jax.ops.segment_min(jnp.where(live & (l2 == best[cv]), cu, m), cv, m))
    nb_safe = jnp.minimum(nb, m - 1)
    mutual = (nb < m) & (nb_safe[nb_safe] == ids) & (best <= eps2)
    keep = mutual & (ids < nb_safe)
    p = nb_safe
    n_new = cnt + cnt[p]
    wa, wb = cnt / n_new, cnt[p] / n_new
    gap = jnp.sum((mu - mu[p]) ** 2, -1)
    mu = jnp.where(keep[:, None], wa[:, None] * mu + wb[:, None] * mu[p], mu)
    s2 = jnp.where(keep, wa * s2 + wb * s2[p] + wa * wb * gap, s2)
    cnt = jnp.where(keep, n_new, cnt)
    into = jnp.where(mutual & (ids > nb_safe), nb_safe, ids)
    return into[root], cnt, mu, s2, jnp.any(mutual), it + 1

  state = (ids, cnt, mu, s2, jnp.array(True), jnp.array(0))
  root, cnt, mu, s2, _, it = jax.lax.while_loop(lambda s: s[4], step, state)
  return root, cnt, mu, s2, it


def _run_rounds(x, eps, k, tau, rounds, graph, mesh):
  """Returns (labels [N] of round nodes, cnt, mu, s2) after all rounds."""
  n = x.shape[0]
  labels = np.arange(n)
  cnt, mu, s2 = np.ones(n, np.float32), x, np.zeros(n, np.float32)
  for r in range(rounds):
    m = cnt.shape[0]
    if m < 2:
      break
    if r == 0 and graph is not None:
      dist, idx = graph
    else:
      dist, idx = knn_lib.knn(mu, k, mesh)
    u, v = _graph_edges(dist[:, :k], idx[:, :k], tau)
    if u.size == 0:
      break
    e_pad, m_pad = shapes.pow2(u.size), shapes.pow2(m)
    if e_pad > _EDGE_CHUNK:
      e_pad = -(-u.size // _EDGE_CHUNK) * _EDGE_CHUNK
    pad = sharding.pad_rows
    root, cnt_r, mu_r, s2_r, _ = _merge_round(
        jnp.asarray(pad(u, e_pad)), jnp.asarray(pad(v, e_pad)),
        jnp.arange(e_pad) < u.size, jnp.asarray(pad(cnt, m_pad)),
        jnp.asarray(pad(mu, m_pad)), jnp.asarray(pad(s2, m_pad)),
        jnp.float32(eps) ** 2)
    root = np.asarray(root)[:m]
    roots, compact = np.unique(root, return_inverse=True)
    if roots.size == m:
      break  # Nothing merged: the next graph would be the same one.
    labels = compact.reshape(-1)[labels]
    cnt = np.asarray(cnt_r)[roots]
    mu, s2 = np.asarray(mu_r)[roots], np.asarray(s2_r)[roots]
  return labels, cnt, mu, s2


def hac_multiround(x, eps: float, k: int = 10, tau: float | None = None,
                   rounds: int = 10, graph=None,
                   mesh: jax.sharding.Mesh | None = None) -> np.ndarray:
  """Multi-round graph HAC with average (RMS) linkage; O(N k) memory.

  Args:
    x: [N, D] embeddings.
    eps: > 0 merge threshold on the linkage.
    k: neighbours per centroid in each round's graph.
    tau: edge length cap on centroid distance; None means eps (see module
      docstring: longer edges can never merge).
    rounds: maximum rounds; stops early once a round merges nothing.
    graph: optional precomputed round-0 `knn(x, >= k)` result
      (dist [N, k'], idx [N, k']) to reuse across eps values.
    mesh: optional mesh for the k-NN graphs.

  Returns:
    [N] int64 labels 0..K-1 in order of first appearance.
  """
  x = np.asarray(clusters.check_embeddings(x), np.float32)
  eps = clusters.check_threshold(eps)
  tau = eps if tau is None else clusters.check_threshold(tau, 'tau')
  if k < 1 or rounds < 1:
    raise ValueError(f'k and rounds must be >= 1, got {k}, {rounds}.')
  labels, *_ = _run_rounds(x, eps, k, tau, rounds, graph, mesh)
  labels = clusters.canonical_labels(labels)
  clusters.warn_if_giant(labels)
  return labels


def eps_for_average_size_multiround(x, target: float, k: int = 10,
                                    tau: float | None = None, rounds: int = 10,
                                    iters: int = 12,
                                    mesh: jax.sharding.Mesh | None = None
                                    ) -> float:
  """Bisection on eps so `hac_multiround` clusters average >= target points.

  Starts from the median k-th neighbour distance, doubles until the target is
  met, then halves the bracket `iters` times. Returns the smallest probed eps
  that met the target (the mean size need not be exactly monotone in eps
  for the graph approximation). Each probe reuses the round-0 k-NN graph.
  """
  x = np.asarray(x, np.float32)
  n = x.shape[0]
  graph = knn_lib.knn(x, k, mesh)

  def avg_size(eps):
    with warnings.catch_warnings():
      warnings.simplefilter('ignore')
      labels = hac_multiround(x, eps, k, tau, rounds, graph, mesh)
    return n / (labels.max() + 1)

  lo, hi = 0.0, float(np.median(graph[0][:, -1])) or 1.0
  for _ in range(64):
    if avg_size(hi) >= target:
      break
    lo, hi = hi, hi * 2
  else:
    raise ValueError(f'No eps reaches mean cluster size {target} within '
                     f'{rounds} rounds; raise rounds or k.')
  for _ in range(iters):
    mid = (lo + hi) / 2
    if avg_size(mid) >= target:
      hi = mid
    else:
      lo = mid
  return hi


