"""Squared Euclidean distances and blocked minimum distances.

(Exact k-NN graphs and nearest centroids for large pools: `knn.py`.)

Dimensions: N pool rows, M and P rows of two point sets, D embedding width,
K centers, C classes (for factorized BADGE embeddings).

Everything here is a pure jnp function, usable under `jax.jit`. The blocked
functions never hold more than a [block, block] distance tile at once: they
walk the rows with `lax.fori_loop` and `lax.dynamic_slice`, clamping the last
block so that it overlaps the previous one instead of padding (padding would
copy the whole pool).
"""

import jax
import jax.numpy as jnp
from jax import lax

DEFAULT_BLOCK = 1024
_HIGHEST = lax.Precision.HIGHEST


def sq_norms(x: jax.Array) -> jax.Array:
  """[M, D] -> [M] squared row norms."""
  return jnp.sum(jnp.square(x), axis=-1)


def sq_distances(x: jax.Array, y: jax.Array) -> jax.Array:
  """All squared distances ||x_i||² + ||y_j||² - 2 x_i·y_j, clamped at 0.

  Args:
    x: [M, D] float.
    y: [P, D] float.

  Returns:
    [M, P] float squared Euclidean distances.
  """
  cross = jnp.dot(x, y.T, precision=_HIGHEST)
  return jnp.maximum(sq_norms(x)[:, None] + sq_norms(y)[None, :] - 2 * cross,
                     0)


def sq_distance_to_point(x: jax.Array, x_sq_norms: jax.Array,
                         c: jax.Array) -> jax.Array:
  """Squared distances from every row of `x` to one point `c`.

  One matrix-vector product: streams `x` once (N·D·4 bytes for float32),
  which is the whole cost of one greedy k-center or k-means++ step.

  Args:
    x: [N, D] float.
    x_sq_norms: [N] float, `sq_norms(x)` precomputed once.
    c: [D] float.

  Returns:
    [N] float, clamped at 0.
  """
  cross = jnp.dot(x, c, precision=_HIGHEST)
  return jnp.maximum(x_sq_norms + jnp.dot(c, c, precision=_HIGHEST) - 2 * cross,
                     0)


def outer_sq_distances(a: jax.Array, z: jax.Array, b: jax.Array,
                       w: jax.Array) -> jax.Array:
  """Squared distances between outer products a_i⊗z_i and b_j⊗w_j.

  ||a⊗z - b⊗w||² = ||a||²||z||² + ||b||²||w||² - 2 (a·b)(z·w), so the
  [M, C·D] embeddings (BADGE gradient embeddings) are never formed.

  Args:
    a: [M, C] float.
    z: [M, D] float.
    b: [P, C] float.
    w: [P, D] float.

  Returns:
    [M, P] float, clamped at 0.
  """
  na = sq_norms(a) * sq_norms(z)
  nb = sq_norms(b) * sq_norms(w)
  cross = (jnp.dot(a, b.T, precision=_HIGHEST) *
           jnp.dot(z, w.T, precision=_HIGHEST))
  return jnp.maximum(na[:, None] + nb[None, :] - 2 * cross, 0)


def outer_sq_distance_to_point(a: jax.Array, z: jax.Array,
                               outer_sq_norms: jax.Array, a_c: jax.Array,
                               z_c: jax.Array) -> jax.Array:
  """Squared distances from every a_i⊗z_i to one outer product a_c⊗z_c.

  Args:
    a: [N, C] float.
    z: [N, D] float.
    outer_sq_norms: [N] float, ||a_i||²·||z_i||² precomputed once.
    a_c: [C] float.
    z_c: [D] float.

  Returns:
    [N] float, clamped at 0.
  """
  nc = jnp.dot(a_c, a_c, precision=_HIGHEST) * jnp.dot(
      z_c, z_c, precision=_HIGHEST)
  cross = (jnp.dot(a, a_c, precision=_HIGHEST) *
           jnp.dot(z, z_c, precision=_HIGHEST))
  return jnp.maximum(outer_sq_norms + nc - 2 * cross, 0)


def _block_starts(n: int, block: int) -> tuple[int, int]:
  """(block size, number of blocks) covering n rows; the last may overlap."""
  block = max(1, min(block, n))
  return block, -(-n // block)


def min_sq_distance_to(x: jax.Array, centers: jax.Array,
                       block: int = DEFAULT_BLOCK,
                       center_mask: jax.Array | None = None) -> jax.Array:
  """Squared distance from every row of `x` to its nearest center.

  Works on [block, block] tiles: memory O(N + block²) beyond the inputs.

  Args:
    x: [N, D] float.
    centers: [K, D] float; K may be 0.
    block: tile edge (rows of `x` and of `centers` per tile).
    center_mask: optional [K] bool; False centers are ignored.

  Returns:
    [N] float; +inf where there is no (unmasked) center.
  """
  n, k = x.shape[0], centers.shape[0]
  out = jnp.full((n,), jnp.inf, x.dtype)
  if n == 0 or k == 0:
    return out
  if center_mask is None:
    center_mask = jnp.ones((k,), bool)
  rb, n_row_blocks = _block_starts(n, block)
  cb, n_center_blocks = _block_starts(k, block)
  c_norms = sq_norms(centers)

  def row_block(i, out):
    start = jnp.minimum(i * rb, n - rb)
    xb = lax.dynamic_slice_in_dim(x, start, rb)
    xb_norms = sq_norms(xb)

    def center_block(j, best):
      cstart = jnp.minimum(j * cb, k - cb)
      cblk = lax.dynamic_slice_in_dim(centers, cstart, cb)
      cn = lax.dynamic_slice_in_dim(c_norms, cstart, cb)
      cm = lax.dynamic_slice_in_dim(center_mask, cstart, cb)
      d = xb_norms[:, None] + cn[None, :] - 2 * jnp.dot(
          xb, cblk.T, precision=_HIGHEST)
      d = jnp.where(cm[None, :], jnp.maximum(d, 0), jnp.inf)
      return jnp.minimum(best, jnp.min(d, axis=1))

    best = lax.fori_loop(0, n_center_blocks, center_block,
                         jnp.full((rb,), jnp.inf, x.dtype))
    return lax.dynamic_update_slice_in_dim(out, best, start, 0)

  return lax.fori_loop(0, n_row_blocks, row_block, out)
