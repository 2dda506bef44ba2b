"""FixMatch's weak and strong augmentations as jitted, per-example-keyed
image ops (paper 003's downstream training, wave2.md 2.4; the op set of
kekmodel's `RandAugmentMC`, which the authors' FixMatch code uses).

  weak:   random horizontal flip (optional: it changes digits) and a random
          crop back to the input size after reflect padding (4 px at 32);
  strong: weak, then 2 ops drawn with replacement from `OPS`, each applied
          with probability 0.5 at a magnitude v ~ U{1, ..., 9} (of 10), then
          Cutout (a square of half the image side, grey, random centre).

Images are float32 in [0, 1], [H, W, C] with C = 1 or 3. Magnitudes follow
kekmodel's table (max value, bias): Brightness/Color/Contrast/Sharpness
factor v/10·0.9 + 0.05, Rotate ±30° · v/10, Shear ±0.3 · v/10, Translate
±0.3 · v/10 of the side, Posterize 4 + ⌊4·v/10⌋ bits, Solarize threshold
1 − v/10; geometric ops fill with grey (128/255), as kekmodel's. Departure:
ops act on float pixels (PIL works on uint8), and Equalize bins into 256
levels.

Dimensions: B batch, H, W, C image.
"""

import functools
import math

import jax
import jax.numpy as jnp

OPS = ('identity', 'autocontrast', 'brightness', 'color', 'contrast',
       'equalize', 'posterize', 'rotate', 'sharpness', 'shear_x', 'shear_y',
       'solarize', 'translate_x', 'translate_y')
GREY = 128 / 255


def _gray(x):
  """[H, W, 1] luminance (ITU-R 601-2, as PIL's 'L')."""
  if x.shape[-1] == 1:
    return x
  return jnp.sum(x * jnp.array([0.299, 0.587, 0.114]), -1, keepdims=True)


def _blend(degenerate, x, factor):
  return jnp.clip(degenerate + factor * (x - degenerate), 0., 1.)


def _affine(x, matrix):
  """Samples x at matrix @ (row, col, 1) of every output pixel centre
  (coordinates relative to the image centre); bilinear, grey outside."""
  h, w, _ = x.shape
  r = jnp.arange(h) - (h - 1) / 2
  c = jnp.arange(w) - (w - 1) / 2
  rr, cc = jnp.meshgrid(r, c, indexing='ij')
  src_r = matrix[0, 0] * rr + matrix[0, 1] * cc + matrix[0, 2] + (h - 1) / 2
  src_c = matrix[1, 0] * rr + matrix[1, 1] * cc + matrix[1, 2] + (w - 1) / 2
  sample = lambda img: jax.scipy.ndimage.map_coordinates(
      img, [src_r, src_c], order=1, mode='constant', cval=GREY)
  return jax.vmap(sample, in_axes=2, out_axes=2)(x)


def _equalize(x):
  """Per-channel histogram equalisation over 256 levels."""
  def one(ch):
    levels = jnp.clip(jnp.round(ch * 255), 0, 255).astype(jnp.int32)
    hist = jnp.zeros(256).at[levels.reshape(-1)].add(1.)
    cdf = jnp.cumsum(hist)
    lo = jnp.min(jnp.where(hist > 0, cdf, jnp.inf))
    lut = jnp.clip((cdf - lo) / jnp.maximum(cdf[-1] - lo, 1.), 0., 1.)
    return jnp.where(cdf[-1] - lo > 0, lut[levels], ch)
  return jax.vmap(one, in_axes=2, out_axes=2)(x)


def _sharpen(x, factor):
  kernel = jnp.array([[1., 1., 1.], [1., 5., 1.], [1., 1., 1.]]) / 13.
  smooth = jax.vmap(lambda ch: jax.scipy.signal.convolve2d(
      ch, kernel, mode='same'), in_axes=2, out_axes=2)(x)
  # PIL keeps the border pixels of the smoothed image unchanged.
  h, w, _ = x.shape
  inner = jnp.zeros((h, w, 1), bool).at[1:-1, 1:-1].set(True)
  return _blend(jnp.where(inner, smooth, x), x, factor)


def apply_op(x, op, v, sign):
  """Op number `op` of `OPS` at magnitude v in [0, 10] (sign ±1 for the
  signed ops). x: [H, W, C] float32 -> [H, W, C]."""
  h, w, _ = x.shape
  f = v / 10 * 0.9 + 0.05
  angle = sign * v / 10 * 30 * math.pi / 180
  shear, shift = sign * v / 10 * 0.3, sign * v / 10 * 0.3
  bits = 4 + jnp.floor(4 * v / 10)
  cos, sin = jnp.cos(angle), jnp.sin(angle)
  branches = [
      lambda x: x,
      lambda x: (x - x.min((0, 1))) / jnp.maximum(
          x.max((0, 1)) - x.min((0, 1)), 1e-6),
      lambda x: _blend(jnp.zeros_like(x), x, f),
      lambda x: _blend(jnp.broadcast_to(_gray(x), x.shape), x, f),
      lambda x: _blend(jnp.full_like(x, jnp.mean(_gray(x))), x, f),
      _equalize,
      lambda x: jnp.floor(x * 255 / 2 ** (8 - bits)) * 2 ** (8 - bits) / 255,
      lambda x: _affine(x, jnp.array([[cos, -sin, 0.], [sin, cos, 0.]])),
      lambda x: _sharpen(x, f),
      lambda x: _affine(x, jnp.array([[1., 0., 0.], [shear, 1., 0.]])),
      lambda x: _affine(x, jnp.array([[1., shear, 0.], [0., 1., 0.]])),
      lambda x: jnp.where(x >= 1 - v / 10, 1 - x, x),
      lambda x: _affine(x, jnp.array([[1., 0., 0.], [0., 1., shift * w]])),
      lambda x: _affine(x, jnp.array([[1., 0., shift * h], [0., 1., 0.]])),
  ]
  return jnp.clip(jax.lax.switch(op, branches, x), 0., 1.)


def weak_one(x, key, pad_fraction: float = 0.125, flip: bool = True):
  """Flip (optional) and reflect-padded random crop of one image."""
  h, w, c = x.shape
  k_flip, k_crop = jax.random.split(key)
  if flip:
    x = jnp.where(jax.random.bernoulli(k_flip), x[:, ::-1], x)
  p = int(round(pad_fraction * h))
  if p:
    padded = jnp.pad(x, ((p, p), (p, p), (0, 0)), mode='reflect')
    dy, dx = jax.random.randint(k_crop, (2,), 0, 2 * p + 1)
    x = jax.lax.dynamic_slice(padded, (dy, dx, 0), (h, w, c))
  return x


def cutout(x, key, fraction: float = 0.5):
  """A grey square of side fraction · H at a uniform centre (clipped)."""
  h, w, _ = x.shape
  size = fraction * h
  cy, cx = jax.random.uniform(key, (2,)) * jnp.array([h, w])
  rows, cols = jnp.arange(h)[:, None, None], jnp.arange(w)[None, :, None]
  inside = ((jnp.abs(rows + 0.5 - cy) <= size / 2) &
            (jnp.abs(cols + 0.5 - cx) <= size / 2))
  return jnp.where(inside, GREY, x)


def strong_one(x, key, num_ops: int = 2, flip: bool = True):
  """Weak, then `num_ops` random ops (each with prob. 0.5), then Cutout."""
  keys = jax.random.split(key, 2 + 4 * num_ops)
  x = weak_one(x, keys[0], flip=flip)
  for i in range(num_ops):
    k_op, k_v, k_p, k_s = keys[2 + 4 * i: 6 + 4 * i]
    op = jax.random.randint(k_op, (), 0, len(OPS))
    v = jax.random.randint(k_v, (), 1, 10).astype(jnp.float32)
    sign = jnp.where(jax.random.bernoulli(k_s), 1., -1.)
    x = jnp.where(jax.random.bernoulli(k_p), apply_op(x, op, v, sign), x)
  return cutout(x, keys[1])


@functools.partial(jax.jit, static_argnames=('strong', 'flip'))
def augment(x: jax.Array, key: jax.Array, strong: bool,
            flip: bool = True) -> jax.Array:
  """[B, H, W, C] float32 in [0, 1] -> the same shape and dtype, one view
  per image from its own key (fold_in of `key`); deterministic in `key`."""
  keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(len(x)))
  one = functools.partial(strong_one if strong else weak_one, flip=flip)
  return jax.vmap(one)(x.astype(jnp.float32), keys)
