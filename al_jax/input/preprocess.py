"""The jitted input pipeline: uint8 -> float32 normalization and augmentation.

Images stay uint8 on the host (4x less memory and transfer than float32) and
are converted here, inside the jitted step. Feature vectors pass through.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp


class Augment(NamedTuple):
  """Static augmentation settings (hashable, so usable as a jit static arg).

  Attributes:
    crop_padding: pixels of zero padding before a random crop back to the
      original size; 0 disables cropping.
    flip: random horizontal flips.
  """
  crop_padding: int = 0
  flip: bool = False


def normalize(x: jax.Array) -> jax.Array:
  """uint8 images in [0, 255] -> float32 in [0, 1]; floats unchanged."""
  if x.dtype == jnp.uint8:
    return x.astype(jnp.float32) / 255.0
  return x.astype(jnp.float32)


def _augment_one(x: jax.Array, key: jax.Array, aug: Augment) -> jax.Array:
  """x: [H, W, C] float32 -> [H, W, C]."""
  k_crop, k_flip = jax.random.split(key)
  if aug.crop_padding:
    p = aug.crop_padding
    h, w, c = x.shape
    padded = jnp.pad(x, ((p, p), (p, p), (0, 0)))
    dy, dx = jax.random.randint(k_crop, (2,), 0, 2 * p + 1)
    x = jax.lax.dynamic_slice(padded, (dy, dx, 0), (h, w, c))
  if aug.flip:
    x = jnp.where(jax.random.bernoulli(k_flip), x[:, ::-1, :], x)
  return x


def augment(x: jax.Array, key: jax.Array, aug: Augment) -> jax.Array:
  """Random crop + flip per example. x: [B, H, W, C] float32; features pass."""
  if x.ndim != 4 or aug == Augment():
    return x
  keys = jax.random.split(key, x.shape[0])
  return jax.vmap(_augment_one, in_axes=(0, 0, None))(x, keys, aug)
