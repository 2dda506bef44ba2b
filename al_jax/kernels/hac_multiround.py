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

The k-NN graph is exact: a jitted blocked product of query blocks against all
centroids (block size set so one block of distances stays under ~256 MB),
with top-k over chunk minima. Graph bookkeeping (dedupe, relabel) is numpy.

Dimensions: N points, D embedding dimension, K clusters, k neighbours,
E graph edges, S seed points.
"""

import functools
import math
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from al_jax.kernels import hac

_BLOCK_BYTES = 256 * 2**20
_TILE = 4096  # Reference rows per k-NN tile: [256, 4096] f32 fits in cache.
_QUERY_BLOCK = 256
_EDGE_CHUNK = 65_536  # Edges per gather in the merge loop (bounds memory).


def _pad_rows(a: np.ndarray, rows: int, value=0) -> np.ndarray:
  pad = [(0, rows - a.shape[0])] + [(0, 0)] * (a.ndim - 1)
  return np.pad(a, pad, constant_values=value)


def _block_rows(n: int, cols: int) -> int:
  """Query rows per block: a power of two keeping [rows, cols] f32 in budget."""
  rows = 2 ** int(math.log2(max(_BLOCK_BYTES // (4 * cols), 8)))
  return min(rows, _bucket(n))


def _bucket(n: int) -> int:
  """Next power of two >= n: few distinct shapes, few recompiles."""
  return 1 << max(0, math.ceil(math.log2(max(n, 1))))


@functools.partial(jax.jit, static_argnames=('k', 'chunk'))
def _knn_block(q, q_ids, ref_tiles, ref_sq, k, chunk):
  """k nearest references of each query, excluding itself.

  Scans reference tiles so each [B, T] distance tile stays in cache (this is
  ~2x faster on CPU than one [B, M] product followed by a top-k). Within a
  tile, columns are split into T / chunk strided chunks; every top-k element
  lies in a chunk whose minimum is at most the k-th smallest chunk minimum,
  so top-k over those k chunks is exact and much cheaper than over the tile.

  Args:
    q: [B, D] float32 queries; q_ids: [B] int32 their rows in the reference
      set (-1: none), masked out as their own neighbour.
    ref_tiles: [M / T, T, D] float32 references; ref_sq: [M / T, T] squared
      norms, inf on padding rows.
    k: neighbours, <= T / chunk.
    chunk: elements per chunk.

  Returns:
    (d2 [B, k] squared distances ascending, idx [B, k] int32 reference rows).
  """
  b = q.shape[0]
  n_tiles, t = ref_sq.shape
  groups = t // chunk
  q2 = -2.0 * q

  def tile(carry, inp):
    best_d, best_i = carry
    ref, r_sq, start = inp
    cols = start + jnp.arange(t, dtype=jnp.int32)
    d2 = r_sq[None, :] + jnp.dot(q2, ref.T, precision='highest')
    d2 = jnp.where(cols[None, :] == q_ids[:, None], jnp.inf, d2)
    # Column c sits in group c % groups: reducing over the middle axis
    # vectorises on CPU.
    grouped = d2.reshape(b, chunk, groups)
    _, top_groups = jax.lax.top_k(-grouped.min(1), k)
    cand = jnp.take_along_axis(grouped, top_groups[:, None, :], axis=2)
    neg, j = jax.lax.top_k(-cand.reshape(b, chunk * k), k)
    idx = start + (j // k) * groups + jnp.take_along_axis(top_groups, j % k, 1)
    neg, sel = jax.lax.top_k(-jnp.concatenate([best_d, -neg], 1), k)
    merged_i = jnp.concatenate([best_i, idx.astype(jnp.int32)], 1)
    return (-neg, jnp.take_along_axis(merged_i, sel, 1)), None

  init = (jnp.full((b, k), jnp.inf, jnp.float32), jnp.zeros((b, k), jnp.int32))
  starts = jnp.arange(n_tiles, dtype=jnp.int32) * t
  (d2, idx), _ = jax.lax.scan(tile, init, (ref_tiles, ref_sq, starts))
  return jnp.maximum(d2 + jnp.sum(q * q, 1)[:, None], 0.0), idx


def knn(x, k: int):
  """Exact k nearest neighbours of every row of x among the other rows.

  Memory: O(N k) results plus one [256, 4096] tile of distances.

  Args:
    x: [N, D] points.
    k: neighbours (clipped to N - 1).

  Returns:
    (dist [N, k] float32 Euclidean ascending, idx [N, k] int32).
  """
  x = np.asarray(x, np.float32)
  n = x.shape[0]
  k = max(1, min(k, n - 1))
  tile = min(_TILE, -(-n // 128) * 128)
  chunk = 32 if tile // 32 >= k else 1  # chunk 1: plain top-k over the tile.
  m = -(-n // tile) * tile
  ref = jnp.asarray(_pad_rows(x, m).reshape(m // tile, tile, -1))
  ref_sq = _pad_rows(np.einsum('ij,ij->i', x, x), m, np.inf)
  ref_sq = jnp.asarray(ref_sq.reshape(m // tile, tile))
  block = min(_QUERY_BLOCK, _bucket(n))
  dists, idxs = [], []
  for start in range(0, n, block):
    stop = min(start + block, n)
    ids = jnp.asarray(_pad_rows(np.arange(start, stop), block, -1), jnp.int32)
    q = jnp.asarray(_pad_rows(x[start:stop], block))
    d2, idx = _knn_block(q, ids, ref, ref_sq, k, chunk)
    dists.append(np.asarray(d2)[:stop - start])
    idxs.append(np.asarray(idx)[:stop - start])
  return np.sqrt(np.concatenate(dists)), np.concatenate(idxs)


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


def _run_rounds(x, eps, k, tau, rounds, graph):
  """Returns (labels [N] of round nodes, cnt, mu, s2) after all rounds."""
  n = x.shape[0]
  labels = np.arange(n)
  cnt, mu, s2 = np.ones(n, np.float32), x, np.zeros(n, np.float32)
  for r in range(rounds):
    m = cnt.shape[0]
    if m < 2:
      break
    dist, idx = graph if (r == 0 and graph is not None) else knn(mu, k)
    u, v = _graph_edges(dist[:, :k], idx[:, :k], tau)
    if u.size == 0:
      break
    e_pad, m_pad = _bucket(u.size), _bucket(m)
    if e_pad > _EDGE_CHUNK:
      e_pad = -(-u.size // _EDGE_CHUNK) * _EDGE_CHUNK
    root, cnt_r, mu_r, s2_r, _ = _merge_round(
        jnp.asarray(_pad_rows(u, e_pad)), jnp.asarray(_pad_rows(v, e_pad)),
        jnp.arange(e_pad) < u.size, jnp.asarray(_pad_rows(cnt, m_pad)),
        jnp.asarray(_pad_rows(mu, m_pad)), jnp.asarray(_pad_rows(s2, m_pad)),
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
                   rounds: int = 10, graph=None) -> np.ndarray:
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

  Returns:
    [N] int64 labels 0..K-1 in order of first appearance.
  """
  x = np.asarray(hac.check_embeddings(x), np.float32)
  eps = hac.check_threshold(eps)
  tau = eps if tau is None else hac.check_threshold(tau, 'tau')
  if k < 1 or rounds < 1:
    raise ValueError(f'k and rounds must be >= 1, got {k}, {rounds}.')
  labels, *_ = _run_rounds(x, eps, k, tau, rounds, graph)
  labels = hac.canonical_labels(labels)
  hac.warn_if_giant(labels)
  return labels


def eps_for_average_size_multiround(x, target: float, k: int = 10,
                                    tau: float | None = None, rounds: int = 10,
                                    iters: int = 12) -> float:
  """Bisection on eps so `hac_multiround` clusters average >= target points.

  Starts from the median k-th neighbour distance, doubles until the target is
  met, then halves the bracket `iters` times. Returns the smallest probed eps
  that met the target (the mean size need not be exactly monotone in eps
  for the graph approximation). Each probe reuses the round-0 k-NN graph.
  """
  x = np.asarray(x, np.float32)
  n = x.shape[0]
  graph = knn(x, k)

  def avg_size(eps):
    with warnings.catch_warnings():
      warnings.simplefilter('ignore')
      labels = hac_multiround(x, eps, k, tau, rounds, graph)
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


@jax.jit
def _nearest_centroid_block(q, cent, cent_sq):
  d2 = (jnp.sum(q * q, 1)[:, None] + cent_sq[None, :]
        - 2.0 * jnp.dot(q, cent.T, precision='highest'))
  j = jnp.argmin(d2, axis=1)
  return jnp.sqrt(jnp.maximum(jnp.take_along_axis(d2, j[:, None], 1)[:, 0],
                              0.0)), j.astype(jnp.int32)


def nearest_centroid(x, centroids):
  """Distance to and index of the nearest centroid, in memory-bounded blocks.

  Args:
    x: [N, D] points; centroids: [K, D].

  Returns:
    (dist [N] float32 Euclidean, idx [N] int32).
  """
  x = np.asarray(x, np.float32)
  cent = np.asarray(centroids, np.float32)
  k_pad = _bucket(cent.shape[0])
  cent_sq = _pad_rows(np.einsum('ij,ij->i', cent, cent), k_pad, np.inf)
  cent, cent_sq = jnp.asarray(_pad_rows(cent, k_pad)), jnp.asarray(cent_sq)
  block = _block_rows(x.shape[0], k_pad)
  dists, idxs = [], []
  for start in range(0, x.shape[0], block):
    q = _pad_rows(x[start:start + block], block)
    d, j = _nearest_centroid_block(jnp.asarray(q), cent, cent_sq)
    stop = min(block, x.shape[0] - start)
    dists.append(np.asarray(d)[:stop])
    idxs.append(np.asarray(j)[:stop])
  return np.concatenate(dists), np.concatenate(idxs)


def _seed_clusters(x, seed_mask, eps, method, multiround_kwargs):
  """HAC on the seeds; returns (seed labels [S], K, dist [R], idx [R]) where
  dist/idx are each non-seed point's nearest seed-cluster centroid."""
  x = hac.check_embeddings(x)
  seed_mask = np.asarray(seed_mask)
  if seed_mask.shape != (x.shape[0],) or seed_mask.dtype != bool:
    raise ValueError(f'seed_mask must be [N={x.shape[0]}] bool, got '
                     f'{seed_mask.shape} {seed_mask.dtype}.')
  if not seed_mask.any():
    raise ValueError('seed_mask selects no points.')
  seeds = x[seed_mask]
  if method == 'auto':
    method = 'exact' if seeds.shape[0] <= 20_000 else 'multiround'
  with warnings.catch_warnings():
    warnings.simplefilter('ignore')  # Judged on the final clusters instead.
    if method == 'exact':
      seed_labels = hac.hac_average(seeds, eps)
    elif method == 'multiround':
      seed_labels = hac_multiround(seeds, eps, **multiround_kwargs)
    else:
      raise ValueError(f"method must be 'auto', 'exact' or 'multiround', got "
                       f'{method!r}.')
  n_clusters = int(seed_labels.max()) + 1
  sums = np.zeros((n_clusters, x.shape[1]))
  np.add.at(sums, seed_labels, seeds)
  centroids = sums / np.bincount(seed_labels)[:, None]
  dist, idx = nearest_centroid(x[~seed_mask], centroids)
  return seed_labels, n_clusters, dist, idx


def hac_assign(x, seed_mask, eps: float, eps_c: float, method: str = 'auto',
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
    eps_c: > 0 assignment radius (Euclidean, to the centroid).
    method: HAC on the seeds: 'exact', 'multiround', or 'auto' (exact up to
      20,000 seeds).
    **multiround_kwargs: k, tau, rounds for 'multiround'.

  Returns:
    [N] int64 labels 0..K-1 in order of first appearance.
  """
  eps = hac.check_threshold(eps)
  eps_c = hac.check_threshold(eps_c, 'eps_c')
  seed_labels, n_clusters, dist, idx = _seed_clusters(
      x, seed_mask, eps, method, multiround_kwargs)
  far = dist > eps_c
  rest = np.where(far, n_clusters + np.cumsum(far) - 1, idx)
  labels = np.empty(seed_mask.shape[0], np.int64)
  labels[seed_mask] = seed_labels
  labels[~seed_mask] = rest
  labels = hac.canonical_labels(labels)
  hac.warn_if_giant(labels, 'eps or eps_c')
  return labels


def eps_c_for_average_size(x, seed_mask, eps: float, target: float,
                           method: str = 'auto', **multiround_kwargs) -> float:
  """Smallest eps_c with mean cluster size >= target for `hac_assign`.

  With K seed clusters and U unassigned (singleton) points the mean size is
  N / (K + U), so U may be at most floor(N / target) - K: eps_c is read off
  the sorted nearest-centroid distances, exactly (as the paper picks eps_c).

  Returns:
    eps_c > 0 (float). Raises ValueError if K alone exceeds N / target
    (raise eps instead).
  """
  n = np.asarray(seed_mask).shape[0]
  _, n_clusters, dist, _ = _seed_clusters(
      x, seed_mask, hac.check_threshold(eps), method, multiround_kwargs)
  allowed = math.floor(n / float(target) + 1e-9) - n_clusters
  if allowed < 0:
    raise ValueError(f'The seeds alone form {n_clusters} clusters > N / target'
                     f' = {n / target:.1f}; use a larger eps.')
  dist = np.sort(dist)
  if allowed >= dist.size:
    return float(dist[0] / 2) if dist.size and dist[0] > 0 else 1e-12
  return max(float(dist[dist.size - allowed - 1]), 1e-12)
