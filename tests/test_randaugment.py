"""FixMatch's augmentation ops (input/randaugment.py): shapes, dtypes,
determinism, and each op against its definition on hand-made images."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from al_jax.input import randaugment as ra

# One compilation per image shape serves every op (the op is traced).
apply_op = jax.jit(ra.apply_op)


def images(c=3, n=4, size=16):
  return jax.random.uniform(jax.random.key(0), (n, size, size, c))


@pytest.mark.parametrize('strong, c', [(False, 1), (True, 3)])
def test_shape_dtype_range_and_determinism(strong, c):
  x = images(c)
  a = ra.augment(x, jax.random.key(1), strong)
  b = ra.augment(x, jax.random.key(1), strong)
  other = ra.augment(x, jax.random.key(2), strong)
  assert a.shape == x.shape and a.dtype == jnp.float32
  assert float(a.min()) >= 0 and float(a.max()) <= 1
  np.testing.assert_array_equal(a, b)
  assert not np.array_equal(a, other)


def test_every_op_keeps_shape_and_range():
  x = images()[0]
  for op in range(len(ra.OPS)):
    y = apply_op(x, op, 7., 1.)
    assert y.shape == x.shape and 0 <= float(y.min()) <= float(y.max()) <= 1


def test_ops_do_what_they_say():
  x = images(1, 1, 16)[0]
  op = {name: i for i, name in enumerate(ra.OPS)}
  np.testing.assert_array_equal(apply_op(x, op['identity'], 5., 1.), x)
  auto = apply_op(x * 0.5 + 0.2, op['autocontrast'], 5., 1.)
  assert float(auto.min()) == pytest.approx(0, abs=1e-6)
  assert float(auto.max()) == pytest.approx(1, abs=1e-6)
  solar = apply_op(x, op['solarize'], 5., 1.)  # Threshold 0.5.
  np.testing.assert_allclose(solar, np.where(x >= 0.5, 1 - x, x))
  post = np.asarray(apply_op(x, op['posterize'], 1., 1.))  # 4 bits.
  assert len(np.unique(np.round(post * 255))) <= 16
  # Brightness at v = 10 scales by 0.95.
  np.testing.assert_allclose(apply_op(x, op['brightness'], 10., 1.),
                             0.95 * x, rtol=1e-6)
  # A translation by 0.3 · v/10 of the side, v = 10: 4.8 px of 16.
  ramp = jnp.tile(jnp.arange(16.)[None, :, None] / 16, (16, 1, 1))
  moved = apply_op(ramp, op['translate_x'], 10., 1.)
  np.testing.assert_allclose(moved[:, 0], ramp[:, 0] * 0 + 4.8 / 16,
                             atol=1e-5)


def test_weak_crop_is_a_shift_of_the_reflect_padded_image():
  x = images(1, 1, 32)
  y = ra.augment(x, jax.random.key(3), False, flip=False)[0]
  padded = np.pad(np.asarray(x[0]), ((4, 4), (4, 4), (0, 0)), mode='reflect')
  hits = [(dy, dx) for dy in range(9) for dx in range(9)
          if np.array_equal(padded[dy:dy + 32, dx:dx + 32], y)]
  assert len(hits) == 1


def test_cutout_greys_a_square():
  x = jnp.zeros((32, 32, 1))
  y = np.asarray(ra.cutout(x, jax.random.key(0)))
  grey = y[..., 0] == np.float32(ra.GREY)
  rows, cols = np.flatnonzero(grey.any(1)), np.flatnonzero(grey.any(0))
  assert 0 < len(rows) <= 17 and 0 < len(cols) <= 17
  assert grey.sum() == len(rows) * len(cols)  # A rectangle (clipped square).
