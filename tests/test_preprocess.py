"""Tests for al_jax.input.preprocess: normalization and crop/flip augmentation."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from al_jax.input import preprocess
from al_jax.input.preprocess import Augment


def _images(b=6, h=5, w=7, c=2, seed=0):
  """Random float images with distinct, nonzero pixels (no accidental ties)."""
  rng = np.random.default_rng(seed)
  return (rng.permutation(b * h * w * c).reshape(b, h, w, c) + 1).astype(
      np.float32)


def test_normalize_uint8_to_unit_float32():
  x = np.array([[0, 1, 128, 255]], np.uint8)
  out = preprocess.normalize(jnp.asarray(x))
  assert out.dtype == jnp.float32
  np.testing.assert_allclose(np.asarray(out), x / 255.0, rtol=1e-6)
  assert float(out.min()) == 0.0 and float(out.max()) == 1.0


def test_normalize_leaves_float_values_alone():
  x = np.array([[-3.5, 0.0, 2.25, 300.0]], np.float32)
  out = preprocess.normalize(jnp.asarray(x))
  assert out.dtype == jnp.float32
  np.testing.assert_array_equal(np.asarray(out), x)  # Not divided by 255.


def test_default_augment_is_identity():
  x = _images()
  out = preprocess.augment(jnp.asarray(x), jax.random.key(0), Augment())
  np.testing.assert_array_equal(np.asarray(out), x)


def test_flip_gives_image_or_mirror_and_both_occur():
  x = _images(b=32)
  out = np.asarray(preprocess.augment(jnp.asarray(x), jax.random.key(1),
                                      Augment(flip=True)))
  assert out.shape == x.shape
  flipped = []
  for o, img in zip(out, x):
    same, mirror = np.array_equal(o, img), np.array_equal(o, img[:, ::-1])
    assert same or mirror  # Horizontal (W axis) mirror, not vertical.
    flipped.append(mirror)
  # With 32 examples and p=0.5 both outcomes occur (fixed key).
  assert 0 < sum(flipped) < len(flipped)


def _windows(img, p):
  """All (2p+1)^2 HxW windows of the zero-padded image."""
  h, w, _ = img.shape
  padded = np.pad(img, ((p, p), (p, p), (0, 0)))
  return [padded[dy:dy + h, dx:dx + w]
          for dy in range(2 * p + 1) for dx in range(2 * p + 1)]


@pytest.mark.parametrize('p', [1, 2])
def test_crop_is_shifted_window_of_zero_padded_image(p):
  x = _images(b=24)
  out = np.asarray(preprocess.augment(jnp.asarray(x), jax.random.key(2),
                                      Augment(crop_padding=p)))
  assert out.shape == x.shape
  offsets = []
  for o, img in zip(out, x):
    matches = [k for k, win in enumerate(_windows(img, p))
               if np.array_equal(o, win)]
    assert len(matches) == 1, 'output is not a window of the padded image'
    offsets.append(matches[0])
  assert len(set(offsets)) > 1  # Random per example, not one shift for all.
  shifts = [divmod(k, 2 * p + 1) for k in offsets]  # (dy, dx)
  assert any(dy != dx for dy, dx in shifts)  # Independent vertical/horizontal.
  assert any(dy != p for dy, _ in shifts) and any(dx != p for _, dx in shifts)


def test_crop_and_flip_together():
  p = 1
  x = _images(b=16)
  out = np.asarray(preprocess.augment(
      jnp.asarray(x), jax.random.key(3), Augment(crop_padding=p, flip=True)))
  for o, img in zip(out, x):
    cands = _windows(img, p) + [w[:, ::-1] for w in _windows(img, p)]
    assert any(np.array_equal(o, c) for c in cands)


def test_feature_vectors_pass_through():
  x = np.random.default_rng(0).normal(size=(5, 11)).astype(np.float32)
  out = preprocess.augment(jnp.asarray(x), jax.random.key(0),
                           Augment(crop_padding=4, flip=True))
  np.testing.assert_array_equal(np.asarray(out), x)


def test_augment_is_deterministic_given_key():
  x = jnp.asarray(_images(b=8))
  aug = Augment(crop_padding=2, flip=True)
  a = preprocess.augment(x, jax.random.key(7), aug)
  b = preprocess.augment(x, jax.random.key(7), aug)
  c = preprocess.augment(x, jax.random.key(8), aug)
  np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  assert not np.array_equal(np.asarray(a), np.asarray(c))
