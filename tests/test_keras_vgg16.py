"""Tests for al_jax.models.keras_vgg16: keras VGG-16 .h5 import, caffe inputs.

The weight files are written here in keras' legacy h5 layout (root attribute
`layer_names`, one group per layer with attribute `weight_names`, kernel then
bias), at the widths of a tiny VGG16 (width_multiplier 1/16, fc_width 16).
"""

import sys

import h5py
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from al_jax import sharding
from al_jax import train
from al_jax.models import get_model
from al_jax.models import keras_vgg16
from al_jax.models import vgg

FC = 16
NUM_CLASSES = 3
# Tiny VGG16 conv widths (width_multiplier 1/16), keras layer order.
WIDTHS = dict(zip(keras_vgg16.CONV_LAYERS, [4, 4, 8, 8, 16, 16, 16] + [32] * 6))
# The layers keras writes without weights, in the order of its VGG16.
POOLS = {'block1_conv2': 'block1_pool', 'block2_conv2': 'block2_pool',
         'block3_conv3': 'block3_pool', 'block4_conv3': 'block4_pool',
         'block5_conv3': 'block5_pool'}


def _keras_layers(fc1_in, num_classes=1000, top=True, seed=0):
  """{name: (kernel, bias)} of a tiny keras VGG16, random float32 values."""
  rng = np.random.default_rng(seed)
  shapes, cin = {}, 3
  for name, cout in WIDTHS.items():
    shapes[name] = ((3, 3, cin, cout), (cout,))
    cin = cout
  if top:
    shapes.update(fc1=((fc1_in, FC), (FC,)), fc2=((FC, FC), (FC,)),
                  predictions=((FC, num_classes), (num_classes,)))
  return {n: tuple(rng.normal(size=s).astype(np.float32) for s in kb)
          for n, kb in shapes.items()}


def _write_h5(path, layers, style='keras1'):
  """Writes `layers` as keras' legacy h5 weight file.

  style 'keras1': dataset names of the files keras downloads
  (`block1_conv1/block1_conv1_W_1:0`); 'keras2': `block1_conv1/
  block1_conv1/kernel:0`, as keras 2's `save_weights` writes them;
  'model': keras 2 names under `model_weights`, as in a whole-model file.
  """
  order = ['input_1']
  for name in layers:
    order.append(name)
    if name in POOLS:
      order.append(POOLS[name])
    if name == 'block5_conv3' and 'fc1' in layers:
      order.append('flatten')
  with h5py.File(path, 'w') as f:
    root = f.create_group('model_weights') if style == 'model' else f
    root.attrs['layer_names'] = [n.encode('utf8') for n in order]
    root.attrs['backend'] = b'tensorflow'
    root.attrs['keras_version'] = b'2.2.4'
    for name in order:
      g = root.create_group(name)
      if name not in layers:
        g.attrs['weight_names'] = np.zeros((0,), 'S1')
        continue
      if style == 'keras1':
        wnames = [f'{name}_W_1:0', f'{name}_b_1:0']
      else:
        wnames = [f'{name}/kernel:0', f'{name}/bias:0']
      g.attrs['weight_names'] = [w.encode('utf8') for w in wnames]
      for w, a in zip(wnames, layers[name]):
        g.create_dataset(w, data=a)
  return str(path)


def _tiny(keras_inputs=True, num_classes=NUM_CLASSES):
  return get_model('vgg16', num_classes, fc_width=FC, width_multiplier=1 / 16,
                   keras_inputs=keras_inputs)


def _init(model, hw, seed=0):
  """Params with init's structure, filled with numpy: real init compiles an
  initializer per shape, about 15 s for VGG16 on a 2-core CPU."""
  shapes = jax.eval_shape(model.init, jax.random.key(0),
                          jnp.zeros((1, hw, hw, 3)))['params']
  rng = np.random.default_rng(seed)
  return jax.tree.map(
      lambda s: (rng.normal(size=s.shape) / np.sqrt(np.prod(s.shape[:-1]))
                 ).astype(s.dtype), shapes)


def _keras_preprocess_input(x):
  """numpy transcription of keras `imagenet_utils._preprocess_numpy_input`,
  mode='caffe', channels_last: x [..., 3] RGB floats on the 0-255 scale."""
  x = np.array(x, np.float32)
  x = x[..., ::-1]  # 'RGB'->'BGR'
  mean = [103.939, 116.779, 123.68]
  x[..., 0] -= mean[0]
  x[..., 1] -= mean[1]
  x[..., 2] -= mean[2]
  return x


def _keras_forward(layers, x255):
  """numpy keras VGG16 (include_top) on 0-255 RGB images: logits [B, C].

  Conv2D 3x3 'same' with HWIO kernels, ReLU, MaxPooling2D 2x2/2, channels-
  last Flatten (row-major over H, W, C), Dense [in, out]; the logits are the
  prediction layer before its softmax."""
  x = _keras_preprocess_input(x255).astype(np.float64)
  for name in keras_vgg16.CONV_LAYERS:
    k, b = layers[name]
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(1, 2))
    x = np.maximum(np.einsum('bhwcij,ijco->bhwo', win, k) + b, 0)
    if name in POOLS:
      n, h, w, c = x.shape
      x = x.reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))
  x = x.reshape(x.shape[0], -1)
  x = np.maximum(x @ layers['fc1'][0] + layers['fc1'][1], 0)
  x = np.maximum(x @ layers['fc2'][0] + layers['fc2'][1], 0)
  return x @ layers['predictions'][0] + layers['predictions'][1]


@pytest.mark.parametrize('style', ['keras1', 'keras2', 'model'])
def test_import_places_every_array_and_reports_mismatches(tmp_path, style):
  # 32x32 inputs: our fc1 is [32, 16]; the file's, as at 224x224, [7*7*32, 16].
  layers = _keras_layers(fc1_in=7 * 7 * 32, num_classes=1000)
  path = _write_h5(tmp_path / 'w.h5', layers, style)
  fresh = _init(_tiny(), 32)
  got, report = keras_vgg16.import_params(fresh, keras_vgg16.read_h5(path))
  assert jax.tree.structure(got) == jax.tree.structure(fresh)
  assert report.imported == keras_vgg16.CONV_LAYERS + ('fc2',)
  for name in report.imported:
    np.testing.assert_array_equal(got[name]['kernel'], layers[name][0])
    np.testing.assert_array_equal(got[name]['bias'], layers[name][1])
  reasons = dict(report.fresh)
  assert sorted(reasons) == ['fc1', 'predictions']
  assert '(1568, 16)' in reasons['fc1'] and '(32, 16)' in reasons['fc1']
  assert '(16, 1000)' in reasons['predictions']
  for name in reasons:
    for kind in ('kernel', 'bias'):
      np.testing.assert_array_equal(got[name][kind], fresh[name][kind])
  assert 'fc1' in str(report) and 'predictions' in str(report)


def test_notop_file_imports_the_body_only(tmp_path):
  layers = _keras_layers(fc1_in=0, top=False)
  path = _write_h5(tmp_path / 'notop.h5', layers)
  fresh = _init(_tiny(), 32)
  got, report = keras_vgg16.import_params(fresh, keras_vgg16.read_h5(path))
  assert report.imported == keras_vgg16.CONV_LAYERS
  assert report.fresh == tuple((n, 'not in the file')
                               for n in keras_vgg16.TOP_LAYERS)
  np.testing.assert_array_equal(got['block5_conv3']['kernel'],
                                layers['block5_conv3'][0])
  np.testing.assert_array_equal(got['fc1']['kernel'], fresh['fc1']['kernel'])


def test_imported_model_equals_numpy_keras_forward(tmp_path):
  # 64x64 inputs: a 2x2x32 body output, so fc1 checks the flatten order.
  layers = _keras_layers(fc1_in=2 * 2 * 32, num_classes=NUM_CLASSES)
  path = _write_h5(tmp_path / 'full.h5', layers)
  model = _tiny()
  params, report = keras_vgg16.import_params(_init(model, 64),
                                             keras_vgg16.read_h5(path))
  assert not report.fresh
  x255 = np.random.default_rng(1).integers(0, 256, (2, 64, 64, 3))
  logits, _ = jax.jit(model.apply)({'params': params},
                                   jnp.asarray(x255 / 255.0, jnp.float32))
  want = _keras_forward(layers, x255)
  np.testing.assert_allclose(logits, want, rtol=1e-3,
                             atol=1e-3 * np.abs(want).max())


def test_caffe_preprocess_matches_keras_preprocess_input():
  pixels = np.array([[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 128, 255],
                     [12, 200, 77]], np.uint8)
  got = vgg.caffe_preprocess(jnp.asarray(pixels, jnp.float32) / 255.0)
  want = _keras_preprocess_input(pixels.astype(np.float32))
  np.testing.assert_allclose(got, want, rtol=0, atol=1e-4)
  np.testing.assert_allclose(want[2], [-103.939, -116.779, 255 - 123.68],
                             rtol=1e-6)
  # The model applies it first when keras_inputs is set.
  x = jnp.asarray(np.random.default_rng(0).random((1, 32, 32, 3)),
                  jnp.float32)
  params = {'params': _init(_tiny(), 32)}
  on = jax.jit(_tiny(keras_inputs=True).apply)(params, x)[0]
  off = jax.jit(_tiny(keras_inputs=False).apply)(params,
                                                 vgg.caffe_preprocess(x))[0]
  np.testing.assert_allclose(on, off, rtol=1e-5, atol=1e-5)


def test_fit_starts_from_h5_init_checkpoint(tmp_path, monkeypatch):
  layers = _keras_layers(fc1_in=0, top=False)
  path = _write_h5(tmp_path / 'notop.h5', layers)

  def create_state(model, input_shape, tx, key):  # Without init's compile.
    del key
    return train.TrainState.create(apply_fn=model.apply, tx=tx,
                                   params=_init(model, input_shape[0]),
                                   batch_stats={})

  monkeypatch.setattr(train, 'create_state', create_state)
  # epochs=0: fit returns its initial state (no train step to compile).
  cfg = ml_collections.ConfigDict(dict(
      optimizer='sgd', learning_rate=0.1, batch_size=2, epochs=0,
      init_checkpoint=path))
  x = np.zeros((4, 32, 32, 3), np.uint8)
  y = np.arange(4) % NUM_CLASSES
  state = train.fit(cfg, _tiny(), x, y, np.arange(4), jax.random.key(0),
                    sharding.make_mesh())
  for name in keras_vgg16.CONV_LAYERS:
    np.testing.assert_array_equal(state.params[name]['kernel'],
                                  layers[name][0])
    np.testing.assert_array_equal(state.params[name]['bias'], layers[name][1])
  np.testing.assert_array_equal(state.params['fc1']['kernel'],
                                _init(_tiny(), 32)['fc1']['kernel'])
  with pytest.raises(ValueError, match='keras_inputs'):
    train.fit(cfg, _tiny(keras_inputs=False), x, y, np.arange(4),
              jax.random.key(0), sharding.make_mesh())


def test_errors(tmp_path, monkeypatch):
  params = _init(_tiny(), 32)
  with pytest.raises(FileNotFoundError, match='No keras VGG-16 weight file'):
    keras_vgg16.read_h5(str(tmp_path / 'missing.h5'))
  text = tmp_path / 'text.h5'
  text.write_text('not hdf5')
  with pytest.raises(ValueError, match='not an HDF5 file'):
    keras_vgg16.read_h5(str(text))
  with h5py.File(tmp_path / 'empty.h5', 'w') as f:
    f.create_group('x')
  with pytest.raises(ValueError, match='layer_names'):
    keras_vgg16.read_h5(str(tmp_path / 'empty.h5'))
  # A keras file of another network.
  other = {'conv1': _keras_layers(0, top=False)['block1_conv1']}
  path = _write_h5(tmp_path / 'resnet.h5', other)
  with pytest.raises(ValueError, match='not a keras VGG-16 weight file'):
    keras_vgg16.read_h5(path)
  # Nothing fits (another width): an error, not a silent no-op.
  wide = {n: (np.zeros(k.shape[:-1] + (k.shape[-1] * 2,), np.float32),
              np.zeros(b.shape[0] * 2, np.float32))
          for n, (k, b) in _keras_layers(0, top=False).items()}
  weights = keras_vgg16.read_h5(_write_h5(tmp_path / 'wide.h5', wide))
  with pytest.raises(ValueError, match='No layer'):
    keras_vgg16.import_params(params, weights)
  # Other models are refused.
  mlp = get_model('mlp', 3, hidden_sizes=(4,))
  with pytest.raises(ValueError, match='vgg16'):
    keras_vgg16.restore(path, None, mlp)
  # h5py missing.
  monkeypatch.setitem(sys.modules, 'h5py', None)
  with pytest.raises(ImportError, match='pip install h5py'):
    keras_vgg16.read_h5(path)
