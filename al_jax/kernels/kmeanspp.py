"""k-means++ seeding (D² sampling) and its factorized form for BADGE.

Arthur & Vassilvitskii (2007): the first center is uniform, each next one is
drawn with probability proportional to its squared distance to the nearest
chosen center. BADGE (Ash et al. 2020; paper 000 section 3.1) runs this
seeding on gradient embeddings g_x = a_x ⊗ z_x, a_x = p_x - onehot(ŷ_x),
which `kmeanspp_seed_outer` handles without forming the [N, C·D] matrix:
||a⊗z - b⊗w||² = ||a||²||z||² + ||b||²||w||² - 2 (a·b)(z·w).

Dimensions: N pool, D embedding width, C classes, K budget.

The seeding runs `pruned_greedy` over the pool in ball-bounded blocks
(`ball_blocks`): a step reads only the blocks whose rows the new center can
move (exactly, by the triangle inequality) and keeps per-block sums of the
squared distances, so a draw is inverse-CDF sampling over block sums and
then within one block, with two uniforms per step (`uniforms`). The block
layout depends on the data only, so any number of devices draws exactly
what one draws.
"""

import jax
import jax.numpy as jnp
import numpy as np

from al_jax import sharding
from al_jax.kernels import ball_blocks
from al_jax.kernels import pruned_greedy


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
    with_reads: also return how many pool blocks each step read
      (`pruned_greedy.select`).

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
    with_reads: also return how many pool blocks each step read
      (`pruned_greedy.select`).

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
  blocks, slot = ball_blocks.build(features, kind, mesh)
  min_d = ball_blocks.layout(np.full((n,), np.inf, np.float32), slot, blocks,
                             np.inf, mesh)
  return pruned_greedy.select(blocks, slot, candidates, min_d, k, key, 'd2',
                              kind, mesh, with_reads=with_reads)


def uniforms(key: jax.Array, k: int) -> np.ndarray:
  """[K, 2] the uniforms that steer the K draws of a seeding with `key`.

  Step i draws block b whose running sum of weights (blocks in layout order)
  first exceeds uniforms[i, 0] times the total, then the row of b whose
  running sum first exceeds uniforms[i, 1] times b's total.
  """
  return np.asarray(jax.vmap(lambda i: jax.random.uniform(
      jax.random.fold_in(key, i), (2,)))(jnp.arange(k)))
