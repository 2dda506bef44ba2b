"""SimCLR-style views of small grayscale images (`features.simclr`):
random resized crop with a small rotation, brightness / contrast jitter,
Gaussian noise and optional random erasing, per-example keyed and jitted.
No flips (they change digits) and no hue / saturation (one channel); the
strengths are `features.simclr.OPTIONS` (chosen on a validation split of
MNIST-5k, experiments/simclr_mnist5k.py).

Dimensions: B batch, H, W, C image.
"""

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp

from al_jax.input import preprocess


class Augment(NamedTuple):
  """Augmentation strengths (hashable: a static jit argument); defaults
  and meaning: `features.simclr.OPTIONS`."""
  crop_min_area: float = 0.3
  rotation_degrees: float = 15.0
  brightness: float = 0.4
  contrast: float = 0.4
  noise_std: float = 0.05
  erase_prob: float = 0.0

  @classmethod
  def from_options(cls, options: dict) -> 'Augment':
    return cls(*(float(options[f]) for f in cls._fields))


def _crop_rotate(x, key, aug: Augment):
  """Random resized crop (torchvision semantics) rotated by a random angle,
  resampled bilinearly to the input size; outside the image reads 0.

  x: [H, W, C] float32 -> [H, W, C].
  """
  h, w, _ = x.shape
  k_area, k_ratio, k_y, k_x, k_rot = jax.random.split(key, 5)
  area = jax.random.uniform(k_area, (), minval=aug.crop_min_area, maxval=1.)
  ratio = jnp.exp(jax.random.uniform(k_ratio, (), minval=math.log(3 / 4),
                                     maxval=math.log(4 / 3)))
  ch = jnp.minimum(jnp.sqrt(area / ratio), 1.) * h  # Crop size in pixels.
  cw = jnp.minimum(jnp.sqrt(area * ratio), 1.) * w
  cy = jax.random.uniform(k_y, (), minval=ch / 2, maxval=h - ch / 2)
  cx = jax.random.uniform(k_x, (), minval=cw / 2, maxval=w - cw / 2)
  theta = jnp.deg2rad(aug.rotation_degrees) * jax.random.uniform(
      k_rot, (), minval=-1., maxval=1.)
  # Output pixel centres as offsets from the crop centre, in input pixels.
  u = ((jnp.arange(h) + 0.5) / h - 0.5)[:, None] * ch
  v = ((jnp.arange(w) + 0.5) / w - 0.5)[None, :] * cw
  cos, sin = jnp.cos(theta), jnp.sin(theta)
  rows = cy - 0.5 + cos * u - sin * v
  cols = cx - 0.5 + sin * u + cos * v
  sample = lambda img: jax.scipy.ndimage.map_coordinates(
      img, [rows, cols], order=1, mode='constant', cval=0.)
  return jax.vmap(sample, in_axes=2, out_axes=2)(x)


def _augment_one(x, key, aug: Augment):
  """One view of one image. x: [H, W, C] float32 in [0, 1] -> [H, W, C]."""
  h, w, _ = x.shape
  keys = jax.random.split(key, 8)
  x = _crop_rotate(x, keys[0], aug)
  b = jax.random.uniform(keys[1], (), minval=1 - aug.brightness,
                         maxval=1 + aug.brightness)
  c = jax.random.uniform(keys[2], (), minval=1 - aug.contrast,
                         maxval=1 + aug.contrast)
  x = x * b
  mean = jnp.mean(x)
  x = jnp.clip((x - mean) * c + mean, 0., 1.)
  x = x + aug.noise_std * jax.random.normal(keys[3], x.shape)
  # Random erasing: a rectangle of 2-20% of the area, aspect in [1/3, 3].
  area = jax.random.uniform(keys[4], (), minval=0.02, maxval=0.2) * h * w
  ratio = jnp.exp(jax.random.uniform(keys[5], (), minval=-math.log(3),
                                     maxval=math.log(3)))
  eh, ew = jnp.sqrt(area * ratio), jnp.sqrt(area / ratio)
  y0, x0 = jax.random.uniform(keys[6], (2,)) * jnp.array([h - eh, w - ew])
  rows, cols = jnp.arange(h)[:, None, None], jnp.arange(w)[None, :, None]
  inside = ((rows >= y0) & (rows < y0 + eh) & (cols >= x0) & (cols < x0 + ew))
  erase = jax.random.bernoulli(keys[7], aug.erase_prob) & inside
  return jnp.where(erase, 0., x)


@functools.partial(jax.jit, static_argnames='aug')
def augment(x: jax.Array, key: jax.Array, aug: Augment) -> jax.Array:
  """One random view per image, each from its own key (fold_in of `key`).

  Args:
    x: [B, H, W, C] uint8 or float32 in [0, 1].
    key: PRNG key; the same key gives the same views.
    aug: strengths.

  Returns:
    [B, H, W, C] float32 (noise may leave [0, 1] slightly).
  """
  x = preprocess.normalize(x)
  keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(len(x)))
  return jax.vmap(_augment_one, in_axes=(0, 0, None))(x, keys, aug)
