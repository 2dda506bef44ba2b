"""Greedy k-center (farthest-first traversal), the CoreSet baseline.

Sener & Savarese (2018) pose CoreSet as k-center on penultimate-layer
embeddings; paper 000 section 3.1 uses the classical greedy 2-approximation:
repeatedly add the unlabeled point farthest from its nearest center, the
labeled points being the initial centers.

Dimensions: N pool, D embedding width, K budget, L labeled points.

One compiled program runs the whole selection: a `lax.fori_loop` over the K
steps keeps a running [N] minimum squared distance; each step is one argmax
and one matrix-vector product with the new center, so it streams the pool
once (N·D·4 bytes for float32) and memory stays O(N·D). The pool axis is
split over the mesh axis ``data`` with `jax.shard_map`: each device takes its
local argmax, the maxima are all-gathered and the lowest global index wins
ties, so any device count picks exactly what one device picks.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import PartitionSpec as P

from al_jax import sharding
from al_jax.kernels import distances
from al_jax.kernels import shapes


def kcenter_greedy(x, labeled_mask, k: int, key: jax.Array | None = None,
                   mesh: jax.sharding.Mesh | None = None,
                   block: int = distances.DEFAULT_BLOCK) -> np.ndarray:
  """Farthest-first selection of `k` unlabeled points.

  Args:
    x: [N, D] float embeddings (host or device array).
    labeled_mask: [N] bool, True for points that already are centers.
    k: budget K, at most the number of unlabeled points.
    key: PRNG key for the first center; required only when nothing is
      labeled (then the first pick is uniform over the pool).
    mesh: mesh with the axis ``data``; None runs on one device.
    block: tile edge for the initial distances to the L labeled points.

  Returns:
    [K] int64 pool indices in pick order, unlabeled and distinct. Ties go to
    the lowest index.
  """
  x = np.asarray(x)
  labeled = np.asarray(labeled_mask, bool)
  n = x.shape[0]
  if labeled.shape != (n,):
    raise ValueError(f'labeled_mask has shape {labeled.shape}, want ({n},).')
  n_unlabeled = n - int(labeled.sum())
  if not 0 <= k <= n_unlabeled:
    raise ValueError(f'k={k} must be in [0, {n_unlabeled}] (unlabeled points).')
  if k == 0:
    return np.zeros((0,), np.int64)
  has_labeled = n_unlabeled < n
  if not has_labeled and key is None:
    raise ValueError(
        'Nothing is labeled: pass a PRNG key for the first center.')
  mesh = mesh or sharding.one_device_mesh()

  # Labeled rows padded to a power of two up to `block`, then to a multiple of
  # `block`: a growing labeled set recompiles once per bucket, not per round,
  # and few labeled points do not pay for a whole block.
  labeled_idx = np.flatnonzero(labeled)
  n_centers = shapes.bucket(len(labeled_idx), block)
  centers = sharding.pad_rows(x[labeled_idx], n_centers)
  center_mask = np.arange(n_centers) < len(labeled_idx)
  first = (jax.random.randint(key, (), 0, n, jnp.int32) if key is not None
           else jnp.int32(0))

  picks = _kcenter_program(
      sharding.shard_rows(x, mesh), sharding.shard_rows(~labeled, mesh),
      jnp.asarray(centers), jnp.asarray(center_mask), first,
      k=k, has_labeled=has_labeled, mesh=mesh, block=block)
  return np.asarray(picks).astype(np.int64)


@functools.partial(jax.jit,
                   static_argnames=('k', 'has_labeled', 'mesh', 'block'))
def _kcenter_program(x, available, centers, center_mask, first, *, k,
                     has_labeled, mesh, block):
  """Jitted selection.

  Args:
    x: [N', D] rows sharded over ``data`` (N' = N padded to the device count).
    available: [N'] bool, unlabeled and not padding.
    centers: [L', D] replicated labeled rows (L' may be 0).
    center_mask: [L'] bool, False on padding rows of `centers`.
    first: int32 scalar, the first pick when `has_labeled` is False.
    k: budget K.
    has_labeled: whether `centers` holds at least one real center.
    mesh: the mesh `x` is sharded over.
    block: tile edge for the labeled distances.

  Returns:
    [K] int32 picks, replicated.
  """

  def local(x, available, centers, center_mask, first):
    row_index = sharding.shard_row_indices(x.shape[0])
    norms = distances.sq_norms(x)
    min_d = distances.min_sq_distance_to(x, centers, block, center_mask)

    def step(i, carry):
      min_d, available, picks = carry
      pick = sharding.shard_argmax(jnp.where(available, min_d, -jnp.inf),
                                   row_index)
      if not has_labeled:
        pick = jnp.where(i == 0, first, pick)
      center = sharding.shard_row(x, row_index, pick)
      min_d = jnp.minimum(min_d,
                          distances.sq_distance_to_point(x, norms, center))
      return min_d, available & (row_index != pick), picks.at[i].set(pick)

    init = (min_d, available, jnp.zeros((k,), jnp.int32))
    return lax.fori_loop(0, k, step, init)[2]

  data = P(sharding.DATA_AXIS)
  return jax.shard_map(
      local, mesh=mesh, in_specs=(data, data, P(), P(), P()), out_specs=P(),
      check_vma=False)(x, available, centers, center_mask, first)


def covering_radius(x, centers_idx, block: int = distances.DEFAULT_BLOCK
                   ) -> float:
  """max_i min_c ||x_i - x_c||: the k-center objective of a set of centers.

  Args:
    x: [N, D] float.
    centers_idx: [K'] int pool indices (labeled plus selected points).
    block: tile edge.

  Returns:
    The covering radius as a Python float.
  """
  x = np.asarray(x)
  d = _min_sq_distance_jit(x, x[np.asarray(centers_idx)], block)
  return float(jnp.sqrt(jnp.max(d)))


_min_sq_distance_jit = jax.jit(distances.min_sq_distance_to, static_argnums=2)
