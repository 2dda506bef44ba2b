"""Facility location by exact lazy greedy: BOSS (paper 002) and CRAIG.

  F(S) = Σ_i max_{j∈S} Sim(x_i, x_j)·I_j,   F(∅) = 0

is paper 002's balanced objective (section 3.2, eq. 5; Algorithm 1 in
appendix C, line 5) with per-candidate importance I_j >= 0 (BOSS: I_j =
((sin(π(D_j - c)) + 1) / 2)^α from a difficulty D_j; I = 1 is CRAIG's plain
facility location). Sim >= 0 and I >= 0 make F monotone submodular.

Sim. The paper does not define it; its code builds on LCMat / DeepCore, whose
facility location uses `cossim_np` = (1 + cos) / 2: metric='cosine' (default).
metric='euclidean' is CRAIG's max_d - d, with max_d replaced by the bound
2·max_i ||x_i - mean|| (O(N·D), not O(N²·D)); with I = 1 the picks do not
depend on that constant. (apricot's metrics are cos² and max d² - d².)

Lazy greedy (Minoux), exact. Gains only shrink as S grows, so stale gains are
upper bounds; in float32 too, as every gain sums max(s_ij - cur_i, 0) in one
fixed order (monotone in cur). A round re-evaluates, in one call, the stale
ones among the B candidates first in (bound desc, index asc) order; a step
ends when the first is fresh: its gain is then >= every other bound, and an
equal gain means an equal bound and a larger index. So picks equal naive
greedy's (`lazy=False`), lowest index on ties.

Dense path: Sim is recomputed from features in [B, N] tiles, or held as
[N, N] when that fits `matrix_bytes` (or is given). Points (the i axis) are
split over the mesh axis ``data``; gains add sums of T consecutive points in
a fixed order, so any device count picks the same. Sparse path (N >=
SPARSE_FROM or `num_neighbors`): candidate j covers only itself and its k
nearest neighbours (`knn.knn`; apricot's n_neighbors convention), so F_k(S) =
Σ_i max over those j ∈ S listing i (0 if none) <= F(S), the same when every
point's best pick is among its covers; k = N - 1 gives F. Memory O(N·k); a
round costs O(B·k); this greedy runs on one device.

Dimensions: N pool, M candidates (N padded), D embedding width, K budget,
B candidates per round, T points per partial sum, k neighbours, C classes.
"""

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import NamedSharding, PartitionSpec as P

from al_jax import sharding
from al_jax.kernels import knn as knn_lib
from al_jax.kernels import shapes

SPARSE_FROM = 50_000
NEIGHBORS = 64
MATRIX_BYTES = 2**30
METRICS = ('cosine', 'euclidean')
_T = 128
_DATA = sharding.DATA_AXIS
# B per path: a row read costs ~N floats, a row product N·D flops, a k-NN
# row k floats, against one top_k over M per round.
_BATCH = {'precomputed': 32, 'features': 64, 'sparse': 64}


class Result(NamedTuple):
  """indices: [K] int64, pick order; weights: [K] int64 points whose best
  pick it is (CRAIG's cluster sizes; points with Sim 0 to every pick count
  nowhere); gains: [K] float32 marginal gain of each pick."""
  indices: np.ndarray
  weights: np.ndarray
  gains: np.ndarray


def _empty() -> Result:
  return Result(np.zeros(0, np.int64), np.zeros(0, np.int64),
                np.zeros(0, np.float32))


def _tree_sum(a: jax.Array) -> jax.Array:
  """Sums the last axis (a power of two) by adding neighbours, level by
  level: zeros appended at the end do not change the result's bits."""
  while a.shape[-1] > 1:
    a = a[..., 0::2] + a[..., 1::2]
  return a[..., 0]


def _sims(metric, cand, cand_sq, pts, pts_sq, offset):
  """[B, n] Sim of candidate rows [B, D] to point rows [n, D], >= 0."""
  dot = jnp.dot(cand, pts.T, precision=lax.Precision.HIGHEST)
  if metric == 'cosine':
    return jnp.maximum(0.5 + 0.5 * dot, 0.)
  d2 = jnp.maximum(cand_sq[:, None] + pts_sq[None, :] - 2. * dot, 0.)
  return jnp.maximum(offset - jnp.sqrt(d2), 0.)


def _gather(local, start, idx):
  """Rows idx [B] (global) of a row-split [n, ...] array, on every device.

  Only the owner contributes a non-zero row to the psum, so rows are exact.
  """
  j = idx - start
  found = (j >= 0) & (j < local.shape[0])
  rows = local[jnp.clip(j, 0, local.shape[0] - 1)]
  found = found.reshape(found.shape + (1,) * (rows.ndim - 1))
  return lax.psum(jnp.where(found, rows, 0), _DATA)


def _greedy(gains, commit, state, avail, k, k_pad, lazy, batch):
  """The greedy loop shared by all paths (under jit).

  Args:
    gains: (state, idx [B] int32) -> ([B] exact gains, bad flag).
    commit: (state, pick, t) -> state with `pick` added as pick t.
    state: pytree (cur [n] best Sim·I so far, owner [n] its pick number).
    avail: [M] bool, candidates that may be picked; M % B == 0.
    k: int32 scalar picks, <= avail.sum(); k_pad: static output length.
    lazy: False re-evaluates every candidate at every step (naive greedy).
    batch: B.

  Returns:
    (picks [k_pad] int32, gains [k_pad] float32, state, evaluations, bad:
    whether the first full pass met NaN, inf or negative Sim; then no picks).
  """
  m = avail.shape[0]

  def full_pass(state):
    def body(b, acc):
      g, bad = gains(state, b * batch + jnp.arange(batch, dtype=jnp.int32))
      return lax.dynamic_update_slice(acc[0], g, (b * batch,)), acc[1] | bad
    return lax.fori_loop(0, m // batch, body, (jnp.zeros(m), jnp.bool_(0)))

  def head(bounds, avail):
    # The first B candidates in (bound desc, index asc) order: top_k is
    # stable, and on CPU cheaper than one argmax over M.
    return tuple(lax.top_k(jnp.where(avail, bounds, -jnp.inf), batch))

  def step(t, carry):
    bounds, avail, state, picks, out, evals = carry
    if lazy:
      def round_(c):
        bounds, fresh, kv, cand, evals = c
        ok = (kv > -jnp.inf) & ~fresh[cand]
        g = gains(state, cand)[0]
        bounds = bounds.at[cand].set(jnp.where(ok, g, bounds[cand]))
        fresh = fresh.at[cand].set(fresh[cand] | ok)
        return (bounds, fresh) + head(bounds, avail) + (evals + ok.sum(),)

      fresh = jnp.full(m, t == 0)  # Step 0 starts from exact gains.
      bounds, _, _, cand, evals = lax.while_loop(
          lambda c: ~c[1][c[3][0]], round_,
          (bounds, fresh) + head(bounds, avail) + (evals,))
    else:
      bounds = full_pass(state)[0]
      cand, evals = head(bounds, avail)[1], evals + avail.sum()
    top = cand[0]
    return (bounds, avail.at[top].set(False), commit(state, top, t),
            picks.at[t].set(top), out.at[t].set(bounds[top]), evals)

  bounds, bad = full_pass(state)
  bad = lax.pmax(bad.astype(jnp.int32), _DATA) > 0
  init = (bounds, avail, state, jnp.zeros(k_pad, jnp.int32),
          jnp.zeros(k_pad, jnp.float32), jnp.int32(0))
  _, _, state, picks, out, evals = lax.fori_loop(
      0, jnp.where(bad, 0, k), step, init)
  return picks, out, state, evals, bad


def _counts(owner, k_pad):
  return jnp.bincount(jnp.where(owner < 0, k_pad, owner),
                      length=k_pad + 1)[:k_pad]


@functools.partial(jax.jit, static_argnames=(
    'metric', 'mesh', 'k_pad', 'lazy', 'weighted'))
def _dense_program(data, sq, offset, imp, avail, k, n_points, *, metric, mesh,
                   k_pad, lazy, weighted):
  """Greedy over points split on ``data``: metric 'precomputed' reads rows of
  a [M, N'] Sim split by columns (0 on padding), else recomputes them from
  features [M, D] split by rows. imp, avail: [M] replicated candidates."""
  batch = _BATCH['precomputed' if metric == 'precomputed' else 'features']

  def local(data, sq, offset, imp, avail, k, n_points):
    n_loc = data.shape[1] if metric == 'precomputed' else data.shape[0]
    start = lax.axis_index(_DATA) * n_loc
    valid = start + jnp.arange(n_loc) < n_points

    def rows(idx):
      if metric == 'precomputed':
        s = data[jnp.clip(idx, 0, data.shape[0] - 1)]
      else:
        s = jnp.where(valid, _sims(metric, _gather(data, start, idx),
                                   _gather(sq, start, idx), data, sq, offset),
                      0.)
      return s * imp[idx][:, None] if weighted else s

    def gains(state, idx):
      s = rows(idx)
      t = jnp.maximum(s - state[0], 0.)
      # Sums of T points in global order (one device: a partial last one).
      t = jnp.pad(t, ((0, 0), (0, -n_loc % _T)))
      part = jnp.sum(t.reshape(len(idx), -1, _T), axis=2)
      part = lax.all_gather(part, _DATA, axis=1, tiled=True)
      g = _tree_sum(jnp.pad(part, ((0, 0), (0, shapes.pow2(part.shape[1])
                                              - part.shape[1]))))
      # NaN and inf reach g; negative values only the minimum.
      return g, jnp.any(~jnp.isfinite(g)) | jnp.any(jnp.min(s, 1) < 0)

    def commit(state, pick, t):
      s = rows(pick[None])[0]
      better = s > state[0]
      return jnp.where(better, s, state[0]), jnp.where(better, t, state[1])

    state = (jnp.zeros(n_loc), jnp.full(n_loc, -1, jnp.int32))
    picks, out, state, evals, bad = _greedy(gains, commit, state, avail, k,
                                            k_pad, lazy, batch)
    return picks, out, lax.psum(_counts(state[1], k_pad), _DATA), evals, bad

  spec = P(None, _DATA) if metric == 'precomputed' else P(_DATA)
  return jax.shard_map(
      local, mesh=mesh, in_specs=(spec, P(_DATA), P(), P(), P(), P(), P()),
      out_specs=P(), check_vma=False)(data, sq, offset, imp, avail, k,
                                      n_points)


@functools.partial(jax.jit, static_argnames=('metric', 'mesh'))
def _matrix(x_all, sq_all, xp, sq, offset, n_points, *, metric, mesh):
  """[M, M] Sim of prepared features (replicated, and split by rows), split
  by columns, 0 on padding."""
  def local(x_all, sq_all, x, sq, offset, n_points):
    start = lax.axis_index(_DATA) * x.shape[0]
    s = _sims(metric, x_all, sq_all, x, sq, offset)
    return jnp.where(start + jnp.arange(x.shape[0]) < n_points, s, 0.)
  return jax.shard_map(
      local, mesh=mesh, in_specs=(P(), P(), P(_DATA), P(_DATA), P(), P()),
      out_specs=P(None, _DATA), check_vma=False)(x_all, sq_all, xp, sq,
                                                  offset, n_points)


@functools.partial(jax.jit, static_argnames=('k_pad', 'lazy', 'mesh'))
def _sparse_program(nbr, sims, avail, k, *, k_pad, lazy, mesh):
  """Greedy on a k-NN graph: nbr [M, k+1] points each candidate covers,
  sims [M, k+1] their Sim·I_j (0 on padding rows). Replicated on `mesh`."""

  def local(nbr, sims, avail, k):
    def gains(state, idx):
      s = sims[idx] - state[0][nbr[idx]]
      return jnp.sum(jnp.maximum(s, 0.), axis=1), jnp.bool_(False)

    def commit(state, pick, t):
      (cur, owner), nb, s = state, nbr[pick], sims[pick]
      better = s > cur[nb]
      return (cur.at[nb].set(jnp.where(better, s, cur[nb])),
              owner.at[nb].set(jnp.where(better, t, owner[nb])))

    state = (jnp.zeros(len(avail)), jnp.full(len(avail), -1, jnp.int32))
    picks, out, state, evals, bad = _greedy(
        gains, commit, state, avail, k, k_pad, lazy, _BATCH['sparse'])
    return picks, out, _counts(state[1], k_pad), evals, bad

  return jax.shard_map(local, mesh=mesh, in_specs=P(), out_specs=P(),
                       check_vma=False)(nbr, sims, avail, k)


def _check(x, budget, importance):
  """Validated float32 features [N, D] and importance [N]."""
  x = np.asarray(x, np.float32)
  if x.ndim != 2 or not len(x):
    raise ValueError(f'features must be [N, D] with N >= 1, got {x.shape}.')
  bad = np.flatnonzero(~np.isfinite(x).all(1))
  if len(bad):
    raise ValueError(f'features contain NaN or inf in rows {bad[:5]}.')
  return x, _check_rest(budget, len(x), importance)


def _check_rest(budget, n, importance):
  if not 0 <= budget <= n:
    raise ValueError(f'budget={budget} must be in [0, {n}] (pool size).')
  imp = np.ones(n, np.float32) if importance is None else np.asarray(
      importance, np.float32)
  if imp.shape != (n,) or not np.all(np.isfinite(imp) & (imp >= 0)):
    raise ValueError(f'importance must be [{n}], finite and >= 0.')
  return imp


def _prepare(x, metric):
  """(features the metric compares, [N] squared norms, offset)."""
  if metric not in METRICS:
    raise ValueError(f'metric={metric!r}; known: {METRICS}.')
  if metric == 'cosine':  # Zero rows stay zero: cos 0 to everything.
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    x = x / np.maximum(norm, np.finfo(np.float32).tiny)
    return x, np.zeros(len(x), np.float32), np.float32(0)
  x = (x - x.mean(0, dtype=np.float64)).astype(np.float32)
  sq = np.einsum('ij,ij->i', x, x)
  return x, sq, np.float32(2 * np.sqrt(sq.max()))


def _result(out, n_picks):
  picks, gains, counts, _, bad = out
  if bool(bad):
    raise ValueError('similarity contains NaN, inf or negative values.')
  return Result(np.asarray(picks)[:n_picks].astype(np.int64),
                np.asarray(counts)[:n_picks].astype(np.int64),
                np.asarray(gains)[:n_picks])


def facility_location(x, budget: int, *, importance=None, metric='cosine',
                      num_neighbors: int | None = None,
                      mesh: jax.sharding.Mesh | None = None,
                      matrix_bytes: int = MATRIX_BYTES,
                      lazy: bool = True) -> Result:
  """Greedy maximiser of F(S) over |S| = budget, from features.

  Args:
    x: [N, D] features (embeddings or gradients), finite.
    budget: K, in [0, N].
    importance: optional [N] I_j >= 0 (None: 1, plain facility location).
    metric: 'cosine' ((1 + cos) / 2) or 'euclidean' (offset - distance).
    num_neighbors: k of the sparse path; None: dense below SPARSE_FROM
      points, else NEIGHBORS.
    mesh: optional mesh with the axis ``data``; None runs on one device.
    matrix_bytes: the dense path holds the [N, N] Sim when it fits in this
      (over all devices; building it takes about twice that for a moment),
      else recomputes [B, N] tiles on every evaluation.
    lazy: False runs naive greedy (same picks, for checks).

  Returns:
    `Result`; picks in order, ties to the lowest index.
  """
  x, imp = _check(x, budget, importance)
  xp, sq, offset = _prepare(x, metric)
  n, k_pad = len(x), shapes.pow2(budget)
  if budget == 0:
    return _empty()
  mesh = mesh or sharding.one_device_mesh()
  if num_neighbors is None and n >= SPARSE_FROM:
    num_neighbors = NEIGHBORS
  if num_neighbors:
    return _result(_sparse(xp, offset, imp, budget, num_neighbors, metric,
                           mesh, k_pad, lazy), budget)
  m = shapes.round_up(shapes.grid(n), _T * mesh.shape[_DATA])
  xp, sq = sharding.pad_rows(xp, m), sharding.pad_rows(sq, m)
  rows = NamedSharding(mesh, P(_DATA))
  data, kind = jax.device_put(xp, rows), metric
  sq = jax.device_put(sq, rows)
  if 4 * m * m <= matrix_bytes:
    every = sharding.replicated(mesh)
    data, kind = _matrix(
        jax.device_put(xp, every), jax.device_put(sq, every), data, sq,
        offset, np.int32(n), metric=metric, mesh=mesh), 'precomputed'
  out = _dense_program(
      data, sq, offset, sharding.pad_rows(imp, m), np.arange(m) < n,
      np.int32(budget), np.int32(n), metric=kind, mesh=mesh, k_pad=k_pad,
      lazy=lazy, weighted=importance is not None)
  return _result(out, budget)


def facility_location_precomputed(similarity, budget: int, *,
                                  importance=None,
                                  mesh: jax.sharding.Mesh | None = None,
                                  lazy: bool = True) -> Result:
  """Same greedy on a given [N, N] Sim (row j: candidate j, as apricot).

  For small N and parity with peers. With a mesh of more than one device
  the columns are padded to a multiple of T·devices (a copy).

  Args:
    similarity: [N, N] float, finite and >= 0 (checked on device).
    budget, importance, mesh, lazy: as `facility_location`.
  """
  sim = np.asarray(similarity, np.float32)
  n = sim.shape[0]
  if sim.shape != (n, n):
    raise ValueError(f'similarity must be [N, N], got {sim.shape}.')
  imp = _check_rest(budget, n, importance)
  if budget == 0:
    return _empty()
  mesh = mesh or sharding.one_device_mesh()
  devices = mesh.shape[_DATA]
  cols = n if devices == 1 else shapes.round_up(n, _T * devices)
  if cols > n:
    sim = np.pad(sim, ((0, 0), (0, cols - n)))
  m = shapes.round_up(n, _BATCH['precomputed'])
  out = _dense_program(
      jax.device_put(sim, NamedSharding(mesh, P(None, _DATA))),
      jax.device_put(np.zeros(cols, np.float32),
                     NamedSharding(mesh, P(_DATA))),
      np.float32(0), sharding.pad_rows(imp, m), np.arange(m) < n,
      np.int32(budget), np.int32(n), metric='precomputed', mesh=mesh,
      k_pad=shapes.pow2(budget), lazy=lazy, weighted=importance is not None)
  return _result(out, budget)


def _sparse(xp, offset, imp, budget, k, metric, mesh, k_pad, lazy):
  """k-NN graph (query blocks split over `mesh`), edge Sim·I_j, greedy."""
  n = len(xp)
  _, idx = knn_lib.knn(xp, k, mesh)
  nbr = np.concatenate([np.arange(n, dtype=np.int32)[:, None], idx], 1)
  sims = np.empty(nbr.shape, np.float32)
  for s in range(0, n, 4096):  # [4096, k + 1, D] at a time.
    a, b = xp[s:s + 4096, None], xp[nbr[s:s + 4096]]
    if metric == 'cosine':
      sims[s:s + 4096] = 0.5 + 0.5 * np.einsum('ikd,ikd->ik', a, b)
    else:
      sims[s:s + 4096] = offset - np.linalg.norm(a - b, axis=-1)
  sims = np.maximum(sims, 0) * imp[:, None]
  m = shapes.round_up(shapes.grid(n), _BATCH['sparse'])
  return _sparse_program(sharding.pad_rows(nbr, m), sharding.pad_rows(sims, m),
                         np.arange(m) < n, np.int32(budget), k_pad=k_pad,
                         lazy=lazy, mesh=mesh)


@functools.partial(jax.jit, static_argnames='metric')
def _objective(xp, sq, offset, cand, cand_sq, cand_imp, metric):
  def body(cur, blk):
    s = _sims(metric, blk[0], blk[1], xp, sq, offset) * blk[2][:, None]
    return jnp.maximum(cur, s.max(0)), None
  cur, _ = lax.scan(body, jnp.zeros(len(xp)), (cand, cand_sq, cand_imp))
  return jnp.sum(cur)


def objective(x, indices, *, importance=None, metric='cosine') -> float:
  """F(S) for pool indices S with the dense Sim, 16 candidates at a time.

  Args:
    x: [N, D] features; indices: [K] pool indices; importance: optional [N].
    metric: as `facility_location`.
  """
  x, imp = _check(x, 0, importance)
  xp, sq, offset = _prepare(x, metric)
  idx = np.unique(np.asarray(indices, np.int64))
  if not len(idx):
    return 0.
  cand = [sharding.pad_rows(a[idx], shapes.round_up(len(idx), 16))
          for a in (xp, sq, imp)]
  cand = [a.reshape((-1, 16) + a.shape[1:]) for a in cand]
  return float(_objective(xp, sq, offset, *cand, metric=metric))
