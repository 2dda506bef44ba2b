"""Greedy k-center (farthest-first traversal), the CoreSet baseline.

Sener & Savarese (2018) pose CoreSet as k-center on penultimate-layer
embeddings; paper 000 section 3.1 uses the classical greedy 2-approximation:
repeatedly add the unlabeled point farthest from its nearest center, the
labeled points being the initial centers.

Dimensions: N pool, D embedding width, K budget, L labeled points.

The selection runs `pruned_greedy` over the pool in ball-bounded blocks
(`ball_blocks`): each step adds one center and lowers every row's squared
distance to its nearest center, skipping, exactly, the blocks that the
triangle inequality shows cannot change, so on clustered embeddings most
steps read a small part of the pool. A step that must touch most blocks is
one dense pass (N·D·4 bytes) that also stores the distances to the next
likely picks, so later picks among them read no block (`pruned_greedy`).
Where no block could be skipped (`worth_ordering`: unclustered data, or
more clusters than centres) the pool stays in its own order, without the
cost of ordering it. Ties go to the lowest pool index, and the layout never
depends on the device count, so any mesh picks exactly what one device
picks, and either layout picks the same.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import PartitionSpec as P

from al_jax import sharding
from al_jax.kernels import ball_blocks
from al_jax.kernels import pruned_greedy
from al_jax.kernels import distances
from al_jax.kernels import shapes


def kcenter_greedy(x, labeled_mask, k: int, key: jax.Array | None = None,
                   mesh: jax.sharding.Mesh | None = None,
                   block: int = distances.DEFAULT_BLOCK, *,
                   with_reads: bool = False) -> np.ndarray:
  """Farthest-first selection of `k` unlabeled points.

  Args:
    x: [N, D] float embeddings (host or device array).
    labeled_mask: [N] bool, True for points that already are centers.
    k: budget K, at most the number of unlabeled points.
    key: PRNG key for the first center; required only when nothing is
      labeled (then the first pick is uniform over the pool).
    mesh: mesh with the axis ``data``; None runs on one device.
    block: tile edge for the initial distances to the L labeled points.
    with_reads: also return how many pool blocks each step read
      (`pruned_greedy.select`).

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
    empty = np.zeros((0,), np.int64)
    return (empty, empty) if with_reads else empty
  has_labeled = n_unlabeled < n
  if not has_labeled and key is None:
    raise ValueError(
        'Nothing is labeled: pass a PRNG key for the first center.')
  mesh = mesh or sharding.one_device_mesh()
  blocks, slot = ball_blocks.build((x,), 'plain', mesh,
                                   ordered=worth_ordering(x, k))

  # Labeled rows padded to a power of two up to `block`, then to a multiple of
  # `block`: a growing labeled set recompiles once per bucket, not per round,
  # and few labeled points do not pay for a whole block.
  labeled_idx = np.flatnonzero(labeled)
  n_centers = shapes.bucket(len(labeled_idx), block)
  centers = sharding.pad_rows(x[labeled_idx], n_centers)
  center_mask = np.arange(n_centers) < len(labeled_idx)
  min_d = _initial_distances(blocks.features[0], jnp.asarray(centers),
                             jnp.asarray(center_mask), block=block, mesh=mesh)
  first = -1 if has_labeled else int(
      jax.random.randint(key, (), 0, n, jnp.int32))
  return pruned_greedy.select(blocks, slot, ~labeled, min_d, k, 'plain',
                              mesh, first=first, with_reads=with_reads)


# Rows and centres of the sample `worth_ordering` runs greedy k-center on.
_SAMPLE, _SAMPLE_CENTRES = 4096, 256


def worth_ordering(x: np.ndarray, k: int) -> bool:
  """Whether ordering the pool into balls (`ball_blocks`) can pay.

  Greedy k-center on a random sample of rows: the pool is worth ordering
  when the sample's covering radius after 1 + min(k, 256) centres is below
  half its radius after one, i.e. the data has clusters smaller than the
  distances the steps will cover, which blocks can be skipped over. Else
  (unclustered data, or far more clusters than centres) no block would be
  skipped and the ordering (~1 s at 1M x 128) is pure cost. k-center's
  picks do not depend on the layout, only its speed does.
  """
  n = len(x)
  rows = np.random.default_rng(0).choice(n, min(n, _SAMPLE), replace=False)
  s = np.asarray(x[np.sort(rows)], np.float32)
  steps = min(k, _SAMPLE_CENTRES, len(s) - 1)
  if steps < 1:
    return False
  norms = np.einsum('ij,ij->i', s, s)
  to = lambda j: norms + norms[j] - 2 * (s @ s[j])  # One sgemv.
  d = to(0)
  first = d.max()
  for _ in range(steps):
    d = np.minimum(d, to(np.argmax(d)))
  return bool(d.max() < 0.25 * first)  # Squared: radius below half.


@functools.partial(jax.jit, static_argnames=('block', 'mesh'))
def _initial_distances(x, centers, center_mask, *, block, mesh):
  """[B, S, D] block rows -> [B, S] squared distance to the nearest center."""

  def local(x, centers, center_mask):
    flat = x.reshape(-1, x.shape[-1])
    return distances.min_sq_distance_to(flat, centers, block,
                                        center_mask).reshape(x.shape[:2])

  data = P(sharding.DATA_AXIS)
  return jax.shard_map(local, mesh=mesh, in_specs=(data, P(), P()),
                       out_specs=data, check_vma=False)(x, centers,
                                                        center_mask)


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
