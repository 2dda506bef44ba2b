"""k-means++ seeding (D² sampling) and its factorized form for BADGE.

Arthur & Vassilvitskii (2007): the first center is uniform, each next one is
drawn with probability proportional to its squared distance to the nearest
chosen center. BADGE (Ash et al. 2020; paper 000 section 3.1) runs this
seeding on gradient embeddings g_x = a_x ⊗ z_x, a_x = p_x - onehot(ŷ_x),
which `kmeanspp_seed_outer` handles without forming the [N, C·D] matrix:
||a⊗z - b⊗w||² = ||a||²||z||² + ||b||²||w||² - 2 (a·b)(z·w).

Dimensions: N pool, D embedding width, C classes, K budget.

One compiled program runs the whole seeding (`lax.fori_loop` over K steps,
each one pass over the pool). A draw is an exponential race over the pool:
argmax_i w_i / E_i with E_i = -log U_i, where U_i is a counter-based hash
(Threefry) of (step key, global index i). The noise of a point therefore does
not depend on how the pool is sharded, and the argmax merge takes the lowest
index on ties, so any number of devices draws exactly what one device draws.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.extend.random import threefry2x32_p
from jax.sharding import PartitionSpec as P

from al_jax import sharding
from al_jax.kernels import distances


def kmeanspp_seed(x, k: int, key: jax.Array, candidate_mask=None,
                  mesh: jax.sharding.Mesh | None = None) -> np.ndarray:
  """k-means++ seeding over the candidate rows of `x`.

  Args:
    x: [N, D] float.
    k: budget K, at most the number of candidates.
    key: PRNG key.
    candidate_mask: optional [N] bool; only True rows can be picked (e.g. the
      unlabeled pool). Distances are to the picked centers only.
    mesh: mesh with the axis ``data``; None runs on one device.

  Returns:
    [K] int64 distinct pool indices in pick order.
  """
  x = np.asarray(x)
  return _seed((x,), 'plain', k, key, candidate_mask, mesh)


def kmeanspp_seed_outer(a, z, k: int, key: jax.Array, candidate_mask=None,
                        mesh: jax.sharding.Mesh | None = None) -> np.ndarray:
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

  Returns:
    [K] int64 distinct pool indices in pick order.
  """
  a, z = np.asarray(a), np.asarray(z)
  if a.shape[0] != z.shape[0]:
    raise ValueError(f'a has {a.shape[0]} rows but z has {z.shape[0]}.')
  return _seed((a, z), 'outer', k, key, candidate_mask, mesh)


def _seed(features, kind, k, key, candidate_mask, mesh):
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
    return np.zeros((0,), np.int64)
  mesh = mesh or sharding.one_device_mesh()
  features = tuple(sharding.shard_rows(f, mesh) for f in features)
  picks = _seed_program(features, sharding.shard_rows(candidates, mesh), key,
                        k=k, kind=kind, mesh=mesh)
  return np.asarray(picks).astype(np.int64)


def index_uniform(key: jax.Array, index: jax.Array) -> jax.Array:
  """Uniform (0, 1) float32 per global index, independent of sharding.

  Threefry-2x32 of the counter `index` under two words drawn from `key`.

  Args:
    key: PRNG key.
    index: [M] int32 global indices.

  Returns:
    [M] float32 in the open interval (0, 1).
  """
  words = jax.random.bits(key, (2,), jnp.uint32)
  count = index.astype(jnp.uint32)
  b1, b2 = threefry2x32_p.bind(words[0], words[1], jnp.zeros_like(count),
                               count)
  mantissa = ((b1 ^ b2) >> 9).astype(jnp.float32)
  return (mantissa + 0.5) * jnp.float32(2.0**-23)


def _prepare(features, kind):
  if kind == 'plain':
    (x,) = features
    return distances.sq_norms(x)
  a, z = features
  return distances.sq_norms(a) * distances.sq_norms(z)


def _distance_to(features, norms, center, kind):
  if kind == 'plain':
    return distances.sq_distance_to_point(features[0], norms, center[0])
  return distances.outer_sq_distance_to_point(*features, norms, *center)


@functools.partial(jax.jit, static_argnames=('k', 'kind', 'mesh'))
def _seed_program(features, candidates, key, *, k, kind, mesh):
  """Jitted seeding.

  Args:
    features: tuple of [N', ...] arrays sharded over ``data``: (x,) for
      kind 'plain', (a, z) for kind 'outer'. N' is N padded to the devices.
    candidates: [N'] bool, False on padding rows.
    key: PRNG key.
    k: budget K.
    kind: 'plain' or 'outer'.
    mesh: the mesh the features are sharded over.

  Returns:
    [K] int32 picks, replicated.
  """

  def local(features, available, key):
    row_index = sharding.shard_row_indices(available.shape[0])
    norms = _prepare(features, kind)
    min_d = jnp.full(available.shape, jnp.inf, jnp.float32)

    def step(i, carry):
      min_d, available, picks = carry
      # The first draw, and any draw where every candidate sits on a center
      # (all weights 0), is uniform over the remaining candidates.
      top = lax.pmax(jnp.max(jnp.where(available, min_d, 0)),
                     sharding.DATA_AXIS)
      w = jnp.where((i == 0) | (top <= 0), 1, min_d)
      # Exponential race: argmax w_i / E_i, E_i ~ Exp(1), picks i with
      # probability w_i / sum w (the Gumbel-max trick without log w).
      exp1 = -jnp.log(index_uniform(jax.random.fold_in(key, i), row_index))
      pick = sharding.shard_argmax(jnp.where(available, w / exp1, -1),
                                   row_index)
      center = sharding.shard_row(features, row_index, pick)
      d = _distance_to(features, norms, center, kind)
      return (jnp.minimum(min_d, d), available & (row_index != pick),
              picks.at[i].set(pick))

    init = (min_d, available, jnp.zeros((k,), jnp.int32))
    return lax.fori_loop(0, k, step, init)[2]

  data = P(sharding.DATA_AXIS)
  return jax.shard_map(
      local, mesh=mesh, in_specs=(data, data, P()), out_specs=P(),
      check_vma=False)(features, candidates, key)
