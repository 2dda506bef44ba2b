"""k-means++ seeding (D² sampling) and its factorized form for BADGE.

Arthur & Vassilvitskii (2007): the first center is uniform, each next one is
drawn with probability proportional to its squared distance to the nearest
chosen center. BADGE (Ash et al. 2020; paper 000 section 3.1) runs this
seeding on gradient embeddings g_x = a_x ⊗ z_x, a_x = p_x - onehot(ŷ_x),
which `kmeanspp_seed_outer` handles without forming the [N, C·D] matrix:
||a⊗z - b⊗w||² = ||a||²||z||² + ||b||²||w||² - 2 (a·b)(z·w).

Dimensions: N pool, D embedding width, C classes, K budget, G proposals per
pass, B blocks of S rows (`ball_blocks`, in pool order).

Draws: exact D² sampling by rejection from a snapshot. A pass over the pool
draws G proposals i.i.d. from the snapshot of m (each row's squared
distance to its nearest chosen center): a block by its sum of m, then a row
of it (inverse CDF, three uniforms per proposal: block, row, acceptance;
`uniforms`), and computes the distances from every row to all G of them in
one [G, N] product, at about the bytes of one matrix-vector product. Each
step then takes the next proposal x and accepts it with probability
m(x) / m_snapshot(x) (m only decreases, so this is at most 1), and lowers m
with x's precomputed column; when the proposals run out, the next pass
takes a new snapshot. Proposals are independent draws from the snapshot,
so an accepted one is distributed as m / sum m at the time it is accepted:
the law of every pick is exactly D² sampling (tested against the
frequencies), while a step costs an [N] minimum instead of a pass. Most
proposals are accepted (a pick lowers m near itself only), so a pass
serves most of its G picks. The first pick, and any drawn when every
candidate's m is 0, is uniform over the candidates. Departure from the
textbook loop (one inverse-CDF draw and one matrix-vector product per
pick): the same law, other draws for the same key (and other draws than
al_jax before this scheme). The numpy peer in
`experiments/bench_center_selection.py` replays these draws with one
matrix-vector product per pick. The first pass's other G - 1 proposals
are always rejected (their snapshot m is +inf), so a seeding makes one
pass more than it needs.

Per-block sums are all-gathered at each pass, and a proposal's numbers are
looked up on the device that holds it, so any number of devices draws
exactly what one draws.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import PartitionSpec as P

from al_jax import sharding
from al_jax.kernels import ball_blocks
from al_jax.kernels import factor_rows


def kmeanspp_seed(x, k: int, key: jax.Array, candidate_mask=None,
                  mesh: jax.sharding.Mesh | None = None, *,
                  with_reads: bool = False) -> np.ndarray:
  """k-means++ seeding over the candidate rows of `x`.

  Args:
    x: [N, D] float.
    k: budget K, at most the number of candidates.
    key: PRNG key.
    candidate_mask: optional [N] bool; only True rows can be picked (e.g. the
      unlabeled pool). Distances are to the picked centers only.
    mesh: mesh with the axis ``data``; None runs on one device.
    with_reads: also return how many pool blocks each step read (all B
      on a step that drew a new pass of proposals, else 0).

  Returns:
    [K] int64 distinct pool indices in pick order.
  """
  x = np.asarray(x)
  return _seed((x,), 'plain', k, key, candidate_mask, mesh, with_reads)


def kmeanspp_seed_outer(a, z, k: int, key: jax.Array, candidate_mask=None,
                        mesh: jax.sharding.Mesh | None = None, *,
                        with_reads: bool = False) -> np.ndarray:
  """k-means++ seeding over the outer products a_i ⊗ z_i, never formed.

  Same draws as `kmeanspp_seed` on the materialized [N, C·D] rows
  (np.kron(a_i, z_i)) for the same key, up to float rounding of distances.

  Args:
    a: [N, C] float, e.g. `badge_factors(logits)`.
    z: [N, D] float penultimate embeddings.
    k: budget K, at most the number of candidates.
    key: PRNG key.
    candidate_mask: optional [N] bool; only True rows can be picked.
    mesh: mesh with the axis ``data``; None runs on one device.
    with_reads: also return how many pool blocks each step read (all B
      on a step that drew a new pass of proposals, else 0).

  Returns:
    [K] int64 distinct pool indices in pick order.
  """
  a, z = np.asarray(a), np.asarray(z)
  if a.shape[0] != z.shape[0]:
    raise ValueError(f'a has {a.shape[0]} rows but z has {z.shape[0]}.')
  return _seed((a, z), 'outer', k, key, candidate_mask, mesh, with_reads)


def _seed(features, kind, k, key, candidate_mask, mesh, with_reads):
  n = features[0].shape[0]
  candidates = (np.ones((n,), bool) if candidate_mask is None
                else np.asarray(candidate_mask, bool))
  if candidates.shape != (n,):
    raise ValueError(
        f'candidate_mask has shape {candidates.shape}, want ({n},).')
  n_candidates = int(candidates.sum())
  if not 0 <= k <= n_candidates:
    raise ValueError(f'k={k} must be in [0, {n_candidates}] (candidates).')
  if k == 0:
    empty = np.zeros((0,), np.int64)
    return (empty, empty) if with_reads else empty
  mesh = mesh or sharding.one_device_mesh()
  blocks, slot = ball_blocks.build(features, kind, mesh, ordered=False)
  available = ball_blocks.layout(candidates, slot, blocks, False, mesh)
  picks, reads = _program(blocks, available, key, k=k, kind=kind, mesh=mesh,
                          size=min(PROPOSALS, k))
  picks = np.asarray(picks).astype(np.int64)
  return (picks, np.asarray(reads)) if with_reads else picks


# G, proposals per pass: on bench_center_selection's data a pass serves
# ~15 of them (64-66 passes for 1,000 picks). More would hold more columns
# (G·N floats); 32 was not benchmarked.
PROPOSALS = 16


class _Proposals(NamedTuple):
  """G proposals drawn from one snapshot of m, with their columns."""
  block: jax.Array  # [G] int32 global block of each proposal
  row: jax.Array  # [G] int32 its row in the block
  index: jax.Array  # [G] int32 its pool index
  weight: jax.Array  # [G] its m at the snapshot
  accept: jax.Array  # [G] uniform of its acceptance test
  columns: jax.Array  # [G, B_local, S] squared distances to it


def _inverse_cdf(weights, target):
  """First entry whose running sum exceeds target, among weights > 0.

  Rounding can leave no such entry: then the last positive one.
  """
  cum = jnp.cumsum(weights)
  hit = (cum > target) & (weights > 0)
  last = weights.shape[0] - 1 - jnp.argmax((weights > 0)[::-1])
  return jnp.where(jnp.any(hit), jnp.argmax(hit), last).astype(jnp.int32)


def _program_impl(blocks, available, key, *, k, kind, mesh, size):
  """All K draws in one compiled loop; see the module docstring."""

  def local(blocks, available, key):
    n_local = available.shape[0]
    offset = lax.axis_index(sharding.DATA_AXIS) * n_local
    n_total = n_local * lax.psum(1, sharding.DATA_AXIS)
    gather = lambda v: lax.all_gather(v, sharding.DATA_AXIS, tiled=True)

    at = lambda v, block, row: ball_blocks.at(v, block, row, offset)

    def draw(score, pass_id, first):
      """G proposals from the snapshot `score` (m, -1 off candidates)."""
      total = gather(jnp.sum(jnp.maximum(score, 0), axis=-1))
      uniform = first | (jnp.sum(total) <= 0)
      weights = jnp.where(uniform, gather(
          jnp.sum(score >= 0, axis=-1).astype(score.dtype)), total)
      u = uniforms(key, pass_id, size)
      block = jax.vmap(_inverse_cdf, (None, 0))(weights,
                                                u[:, 0] * jnp.sum(weights))
      m = score[jnp.clip(block - offset, 0, n_local - 1)]  # [G, S]
      inner = jnp.where(m >= 0, jnp.where(uniform, 1.0, m), 0)
      own = (block >= offset) & (block < offset + n_local)
      row = lax.psum(jnp.where(own, jax.vmap(_inverse_cdf)(
          inner, u[:, 1] * jnp.sum(inner, axis=-1)), 0), sharding.DATA_AXIS)
      centres = tuple(at(f, block, row) for f in blocks.features)
      return _Proposals(block, row, at(blocks.index, block, row),
                        at(score, block, row), u[:, 2],
                        factor_rows.distances_to(blocks.features,
                                                 blocks.norms, centres, kind))

    def accepted(props, t, score):
      m = at(score, props.block[t], props.row[t])
      # Equal m (no update since the snapshot, or 0 == 0 when every m was
      # 0) always accepts; a pick's m is -1 and never does.
      return (m >= 0) & ((props.accept[t] * props.weight[t] < m) |
                         (m == props.weight[t]))

    def step(i, carry):
      score, props, t, passes, picks, reads = carry
      t = lax.while_loop(
          lambda t: (t < size) & ~accepted(props, t, score), lambda t: t + 1,
          t)
      # A fresh snapshot's first proposal is always accepted. The pass is a
      # loop run 0 or 1 times, which updates the carried columns in place.
      new = t >= size
      props, passes = lax.while_loop(
          lambda c: c[0], lambda c: (False, draw(score, c[2], i == 0),
                                     c[2] + 1), (new, props, passes))[1:]
      t = jnp.where(new, 0, t)
      score = ball_blocks.put(jnp.minimum(score, props.columns[t]),
                              props.block[t], props.row[t], offset, -1.0)
      return (score, props, t + 1, passes, picks.at[i].set(props.index[t]),
              reads.at[i].set(jnp.where(new, n_total, 0)))

    # m is +inf before the first center and -1 off candidates.
    score = jnp.where(available, jnp.inf, -1.0)
    none = jnp.full((size,), -1, jnp.int32)
    props = _Proposals(none, jnp.zeros_like(none), none,
                       jnp.zeros((size,)), jnp.zeros((size,)),
                       jnp.zeros((size,) + score.shape))
    init = (score, props, jnp.int32(size), jnp.int32(0),
            jnp.zeros((k,), jnp.int32), jnp.zeros((k,), jnp.int32))
    return lax.fori_loop(0, k, step, init)[4:]

  data = P(sharding.DATA_AXIS)
  return jax.shard_map(local, mesh=mesh, in_specs=(data, data, P()),
                       out_specs=(P(), P()), check_vma=False)(blocks,
                                                              available, key)


_program = jax.jit(_program_impl, static_argnames=('k', 'kind', 'mesh',
                                                   'size'))


def uniforms(key: jax.Array, pass_id, size: int = PROPOSALS) -> jax.Array:
  """[G, 3] the uniforms of pass `pass_id` of a seeding with `key`.

  Proposal g of the pass takes block b whose running sum of m (blocks in
  layout order) first exceeds [g, 0] times the total, then the row of b
  whose running sum first exceeds [g, 1] times b's total; it is accepted
  when [g, 2] times its m at the pass is below its m at its step.
  """
  return jax.random.uniform(jax.random.fold_in(key, pass_id), (size, 3))
