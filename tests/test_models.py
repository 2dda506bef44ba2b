"""Tests for al_jax.models: shapes, parameter counts, BN, MC dropout, registry."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from al_jax.models import MODELS, get_model

# name -> (tiny kwargs, input shape, expected embedding dim D). Widths are tiny
# so the whole file runs in seconds on CPU.
TINY = {
    'logreg': ({}, (2, 4, 4, 1), 16),
    'mlp': ({'hidden_sizes': (8, 6), 'dropout_rate': 0.5}, (2, 5), 6),
    'cnn': ({}, (2, 8, 8, 1), 256),
    'conv3_dense3': ({'channels': (4, 4, 4), 'dense': (8, 5)}, (2, 32, 32, 3),
                     5),
    'vgg16': ({'fc_width': 16, 'width_multiplier': 1 / 16,
               'dropout_rate': 0.5}, (2, 32, 32, 3), 16),
    'resnet18': ({'width': 4, 'small_inputs': True}, (2, 8, 8, 3), 32),
    'resnet34': ({'width': 4}, (2, 16, 16, 3), 32),
    'resnet50': ({'width': 4, 'small_inputs': True}, (2, 8, 8, 3), 128),
    'resnet101': ({'width': 2, 'embedding_dim': 5}, (2, 16, 16, 3), 5),
}
NUM_CLASSES = 3


def _fake_variables(model, x):
  """Variables with init's structure, filled cheaply with numpy.

  Real init compiles a random initializer per parameter shape, which takes
  many seconds for deep ResNets on CPU; these tests only need sane values.
  Real init is covered by test_real_init_matches_shapes.
  """
  shapes = jax.eval_shape(model.init, jax.random.key(0), x)
  rng = np.random.default_rng(0)

  def fill(path, leaf):
    key = path[-1].key
    if key == 'kernel':  # fan-in scaled, like lecun_normal
      fan_in = int(np.prod(leaf.shape[:-1]))
      return jnp.asarray(rng.normal(size=leaf.shape) / np.sqrt(fan_in),
                         leaf.dtype)
    if key in ('scale', 'var'):
      return jnp.ones(leaf.shape, leaf.dtype)
    return jnp.zeros(leaf.shape, leaf.dtype)  # biases, running means

  return jax.tree_util.tree_map_with_path(fill, shapes)


def _init(name, **overrides):
  kwargs, shape, _ = TINY[name]
  model = get_model(name, NUM_CLASSES, **{**kwargs, **overrides})
  x = jnp.asarray(np.random.default_rng(1).normal(size=shape), jnp.float32)
  return model, _fake_variables(model, x), x


def _num_params(name, num_classes, shape, **kwargs):
  model = get_model(name, num_classes, **kwargs)
  # eval_shape: nothing of the real size is allocated.
  variables = jax.eval_shape(
      lambda: model.init(jax.random.key(0), jnp.zeros(shape)))
  return sum(p.size for p in jax.tree.leaves(variables['params']))


def test_registry_covers_all_models():
  assert set(MODELS) == set(TINY)


@pytest.mark.parametrize('name', ['logreg', 'mlp', 'cnn'])
def test_real_init_matches_shapes(name):
  model, fake, x = _init(name)
  variables = model.init(jax.random.key(0), x)
  assert (jax.tree.map(lambda a: (a.shape, a.dtype), variables)
          == jax.tree.map(lambda a: (a.shape, a.dtype), fake))
  assert all(p.dtype == jnp.float32 for p in jax.tree.leaves(variables))


@pytest.mark.parametrize('name', sorted(TINY))
def test_shapes_dtypes_and_jit(name):
  model, variables, x = _init(name)
  apply = jax.jit(functools.partial(model.apply, train=False))
  logits, emb = apply(variables, x)
  d = TINY[name][2]
  assert logits.shape == (x.shape[0], NUM_CLASSES)
  assert emb.shape == (x.shape[0], d)
  assert logits.dtype == emb.dtype == jnp.float32
  assert np.all(np.isfinite(logits))


@pytest.mark.parametrize('name', ['mlp', 'cnn', 'resnet18'])
def test_bf16_compute_keeps_float32_params_and_outputs(name):
  model, variables, x = _init(name, dtype=jnp.bfloat16)
  assert all(p.dtype == jnp.float32
             for p in jax.tree.leaves(variables['params']))
  logits, emb = model.apply(variables, x)
  assert logits.dtype == emb.dtype == jnp.float32


@pytest.mark.parametrize('name,kwargs,shape,expected', [
    ('resnet18', {}, (1, 224, 224, 3), 11_689_512),   # torchvision
    ('resnet50', {}, (1, 224, 224, 3), 25_557_032),   # torchvision
    ('resnet34', {}, (1, 224, 224, 3), 21_797_672),   # torchvision
    ('resnet101', {}, (1, 224, 224, 3), 44_549_160),  # torchvision
    ('vgg16', {}, (1, 224, 224, 3), 138_357_544),     # keras VGG16
])
def test_param_counts_match_references(name, kwargs, shape, expected):
  assert _num_params(name, 1000, shape, **kwargs) == expected


def test_embedding_dims_at_full_width():
  def emb_dim(name, shape, **kwargs):
    model = get_model(name, 10, **kwargs)
    x = jnp.zeros(shape)
    out = jax.eval_shape(
        lambda: model.init_with_output(jax.random.key(0), x)[0])
    return out[1].shape[-1]

  assert emb_dim('resnet18', (1, 32, 32, 3), small_inputs=True) == 512
  assert emb_dim('resnet50', (1, 32, 32, 3), small_inputs=True) == 2048
  assert emb_dim('resnet101', (1, 64, 64, 3), embedding_dim=128) == 128
  assert emb_dim('vgg16', (1, 32, 32, 3)) == 4096
  assert emb_dim('cnn', (1, 28, 28, 1)) == 256


def test_cnn_matches_paper_table6_shapes():
  model = get_model('cnn', 10)
  variables = jax.eval_shape(
      lambda: model.init(jax.random.key(0), jnp.zeros((1, 28, 28, 1))))
  # 28 -> 14 -> 7 spatially, so the first Dense sees 7 * 7 * 64 features.
  assert variables['params']['fc']['kernel'].shape == (7 * 7 * 64, 256)


def test_logits_are_head_of_embedding():
  model, variables, x = _init('resnet101')
  logits, emb = model.apply(variables, x)
  head = variables['params']['head']
  np.testing.assert_allclose(
      logits, emb @ head['kernel'] + head['bias'], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('name', ['resnet18', 'resnet50'])
def test_batchnorm_train_updates_stats_eval_is_deterministic(name):
  model, variables, x = _init(name)
  (_, _), updates = model.apply(variables, x, train=True,
                                mutable=['batch_stats'])
  before = jax.tree.leaves(variables['batch_stats'])
  after = jax.tree.leaves(updates['batch_stats'])
  assert any(not np.allclose(a, b) for a, b in zip(before, after))
  # Eval mode needs no mutable collection and is a pure function.
  out1 = model.apply(variables, x, train=False)
  out2 = model.apply(variables, x, train=False)
  np.testing.assert_array_equal(out1[0], out2[0])


@pytest.mark.parametrize('name', ['mlp', 'cnn', 'vgg16'])
def test_mc_dropout(name):
  model, variables, x = _init(name)

  def run(seed, **kw):
    return model.apply(variables, x, rngs={'dropout': jax.random.key(seed)},
                       **kw)[0]

  a, b, a2 = run(1, dropout=True), run(2, dropout=True), run(1, dropout=True)
  assert not np.allclose(a, b)
  np.testing.assert_array_equal(a, a2)
  # train=True turns dropout on by default; dropout=False turns it off.
  assert not np.allclose(run(1, train=True), run(2, train=True))
  off = model.apply(variables, x, dropout=False)[0]
  np.testing.assert_array_equal(off, model.apply(variables, x)[0])
  np.testing.assert_allclose(run(1, train=True, dropout=False), off,
                             rtol=1e-6, atol=1e-6)


def test_get_model_unknown_name_lists_valid_names():
  with pytest.raises(ValueError, match='resnet18') as err:
    get_model('resnet19', 10)
  for name in MODELS:
    assert name in str(err.value)


def test_get_model_unknown_kwarg_names_key_and_fields():
  with pytest.raises(ValueError, match='hiden_sizes') as err:
    get_model('mlp', 10, hiden_sizes=(4,))
  assert 'hidden_sizes' in str(err.value)
  # Variant-defining fields are not user-settable through get_model.
  with pytest.raises(ValueError, match='stage_sizes'):
    get_model('resnet18', 10, stage_sizes=(1, 1, 1, 1))
