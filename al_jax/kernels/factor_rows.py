"""Pool rows stored as factors: their embedding, norms and distances.

Kinds: 'plain' rows x [M, D]; 'outer' rows a_i ⊗ z_i of factors a [M, C] and
z [M, D] (BADGE gradient embeddings), whose distances come from the factors
(||a⊗z - b⊗w||² = ||a||²||z||² + ||b||²||w||² - 2 (a·b)(z·w)), so a ⊗ z is
formed only where a caller asks for `embed`.

Dimensions: M rows (any leading axes), F = D or C·D embedded width, G
centers.
"""

import functools

import jax
import jax.numpy as jnp
from jax import lax

from al_jax.kernels import distances


def embed(features, kind: str) -> jax.Array:
  """[M, ...] factors -> [M, F] embedded rows (a ⊗ z for 'outer')."""
  if kind == 'plain':
    return features[0]
  a, z = features
  return (a[:, :, None] * z[:, None, :]).reshape(a.shape[0], -1)


def row_norms(features, kind: str) -> jax.Array:
  """[M] squared norms of the embedded rows."""
  if kind == 'plain':
    return distances.sq_norms(features[0])
  return distances.sq_norms(features[0]) * distances.sq_norms(features[1])


def distance_to(features, norms, center, kind: str) -> jax.Array:
  """[M] squared distances from the embedded rows to one embedded center.

  features: [M, ...] factors with [M] `row_norms`; center: the center's
  factors (one row each, without the M axis).
  """
  if kind == 'plain':
    return distances.sq_distance_to_point(features[0], norms, center[0])
  return distances.outer_sq_distance_to_point(*features, norms, *center)


def distances_to(features, norms, centers, kind: str) -> jax.Array:
  """[G, ...] squared distances from the embedded rows to G centers.

  features: [..., width] factors with [...] `row_norms`; centers: the G
  centers' factors, [G, width] each. One matrix product per factor.
  """
  cross = jnp.moveaxis(functools.reduce(jnp.multiply, [
      jnp.einsum('...d,gd->...g', f, c, precision=lax.Precision.HIGHEST)
      for f, c in zip(features, centers)]), -1, 0)
  cc = row_norms(centers, kind).reshape((-1,) + (1,) * (cross.ndim - 1))
  return jnp.maximum(norms + cc - 2 * cross, 0)


def dot_width(features, kind: str) -> int:
  """Length of the dot products in `distance_to` (for rounding bounds)."""
  return sum(f.shape[-1] for f in features) if kind == 'outer' else (
      features[0].shape[-1])
