"""Approximate k-NN graph: each query block searches only its nearest lists.

An inverted-file (IVF) search over the `ball_blocks` row order, for pools
where the exact graph (`knn.knn`, 2·N²·D flop) is too slow. Rows are put in
an order that keeps nearby rows together (`ball_blocks.block_order`), then
cut into lists of `list_rows` consecutive rows; queries are taken in the
same order, QUERIES at a time, and each such block searches,
exactly, `probe` lists (`knn.block_search` on those lists only). Lists are
chosen by vote: a list is represented by the means of its pieces (the
parts of `block_order`'s groups, ~2·ORDER_ROWS rows each, that fall in
it), every query votes for the `probe` lists holding its nearest pieces,
and the lists with the most votes win (ties: the nearer). A block that
spans several clusters so gets each cluster's lists; one centroid per list
would not do (a list holds many clusters, and its mean may be near none).
Cost: probe · list_rows / N of the exact graph, plus the order (N x
anchors on a 32-wide sketch) and the votes, a GEMM against every piece
(min(N / (2·ORDER_ROWS), MAX_ANCHORS) columns, about 1–2x a search's
probe · list_rows). Measured (the benchmark's 1,000-blob mixture):
100,000 x 128, probe 1: recall 0.97 at 3.5x the exact graph's speed;
1,000,000 x 128, probe 2: recall 0.98 at 14x.

What is approximate: a query's true neighbour is missed when its list is
not among the probed ones. Every returned neighbour is a real row with its
exact distance, and rows are never their own neighbour. Recall against the
exact graph depends on the data (`experiments/bench_knn_density.py`
prints it); clustered embeddings, the case of USL and Cluster-Margin, need
few probes. Choosing lists per query block (not per query) keeps the
search a dense GEMM; faiss's IndexIVFFlat chooses per query.

It runs on one device (query blocks one after another); the exact graph is
the path that splits over a mesh.

Dimensions: N points, D width, k neighbours, L lists of T rows, P probes.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from al_jax import sharding
from al_jax.kernels import ball_blocks
from al_jax.kernels import distances
from al_jax.kernels import knn
from al_jax.kernels import shapes

LIST_ROWS = 4096
# block_order's groups: ~2·ORDER_ROWS rows each, so a cluster tends to hold
# anchors of its own and stays in few lists (in development, on the
# benchmark's 100k mixture, recall at probe 1 was 0.72 with 64 and 0.97
# with 8); at most MAX_ANCHORS anchors (its chain holds an [A, A] float64
# matrix).
ORDER_ROWS = 8
MAX_ANCHORS = 8192
QUERIES = 128  # Per block: fewer clusters per block, so fewer lists.


@functools.partial(jax.jit, static_argnames='probe')
def _choose(q, valid, reps, real, probe):
  """[P] lists for a query block by vote (see the module docstring).

  Args:
    q: [B, D] queries; valid: [B] bool (False: padding).
    reps: [L, R, D] representatives of each list; real: [L, R] bool (False:
      padding).
    probe: P.
  """
  n_lists, r, d = reps.shape
  d2 = distances.sq_distances(q, reps.reshape(-1, d))
  d2 = jnp.where(real.reshape(-1), d2, jnp.inf)
  near = d2.reshape(-1, n_lists, r).min(2)  # [B, L]
  top = jax.lax.top_k(-near, probe)[1]
  votes = jnp.zeros(n_lists).at[top].add(valid[:, None].astype(jnp.float32))
  best = jnp.min(jnp.where(valid[:, None], near, jnp.inf), 0)
  rank = (best - best.min()) / (best.max() - best.min() + 1.0)  # [0, 1).
  return jnp.sort(jax.lax.top_k(votes - rank, probe)[1])


def _representatives(xo, group, list_rows):
  """([L, R, D] means of each list's pieces, [L, R] bool real ones).

  A piece is the part of one `block_order` group inside one list; R is the
  most pieces of any list (the others padded).
  """
  n = len(xo)
  cuts = np.union1d(np.flatnonzero(np.diff(group)) + 1,
                    np.arange(list_rows, n, list_rows))
  starts = np.concatenate([[0], cuts]).astype(np.int64)
  sizes = np.diff(np.append(starts, n))
  means = np.add.reduceat(xo, starts, axis=0, dtype=np.float64) / sizes[:, None]
  owner = starts // list_rows
  n_lists = owner[-1] + 1
  counts = np.bincount(owner, minlength=n_lists)
  slot = np.arange(len(starts)) - np.repeat(np.cumsum(counts) - counts, counts)
  reps = np.zeros((n_lists, counts.max(), xo.shape[1]), np.float32)
  real = np.zeros((n_lists, counts.max()), bool)
  reps[owner, slot] = means
  real[owner, slot] = True
  return reps, real


@jax.jit
def _take(tiles, lists):
  return jnp.take(tiles, lists, axis=0)


def knn_probe(x, k: int, probe: int = 8, list_rows: int = LIST_ROWS):
  """Approximate k nearest neighbours of every row among the other rows.

  Args:
    x: [N, D] points.
    k: neighbours (clipped to N - 1).
    probe: lists searched per query block; all of them (or a pool of at
      most probe · list_rows rows) gives the exact graph (up to the order
      of tied rows).
    list_rows: T, rows per list; a multiple of 1024.

  Returns:
    (dist [N, k] float32 Euclidean ascending, idx [N, k] int32), as
    `knn.knn` returns them.
  """
  x = np.asarray(x, np.float32)
  n, d = x.shape
  k = max(1, min(k, n - 1))
  if probe < 1 or list_rows % 1024:
    raise ValueError(f'knn_probe: probe={probe} must be >= 1 and '
                     f'list_rows={list_rows} a multiple of 1024.')
  n_lists = -(-n // list_rows)
  probe = min(probe, n_lists)  # All lists: the exact graph.
  order, group_of = ball_blocks.block_order(
      (x,), 'plain', max(ORDER_ROWS, -(-n // (2 * MAX_ANCHORS))))
  xo = x[order]
  reps, real = map(jnp.asarray, _representatives(xo, group_of, list_rows))
  chunk, group = knn.levels(probe * list_rows, list_rows, k + 1, d)
  tiles = jnp.asarray(knn.tiles(xo, n_lists, list_rows, chunk))
  block = min(QUERIES, shapes.pow2(n))
  d2 = np.empty((n, k), np.float32)
  idx = np.empty((n, k), np.int64)
  for start in range(0, n, block):
    stop = min(start + block, n)
    valid = np.arange(block) < stop - start
    lists = np.asarray(_choose(sharding.pad_rows(xo[start:stop], block),
                               valid, reps, real, probe))
    # Each query's own row, numbered within the probed lists (-1: absent).
    pos = np.arange(start, stop)
    slot = np.searchsorted(lists, pos // list_rows)
    slot = np.minimum(slot, probe - 1)
    own = np.where(lists[slot] == pos // list_rows,
                   slot * list_rows + pos % list_rows, -1).astype(np.int32)
    part_d2, rows = knn.search(xo[start:stop], own, _take(tiles, lists),
                               k, chunk, group, None)
    d2[start:stop] = part_d2
    idx[start:stop] = lists[rows // list_rows] * list_rows + rows % list_rows
  out_d, out_i = np.empty_like(d2), np.empty((n, k), np.int32)
  out_d[order] = np.sqrt(d2)
  out_i[order] = order[idx]
  return out_d, out_i
