"""Imports tf-keras VGG-16 ImageNet weights (.h5) into `al_jax.models.VGG16`.

Paper 000 (section 3.3) initializes its VGG-16 from "the default pre-trained
image-net weights" of tf-keras. keras ships them as HDF5 files:
`vgg16_weights_tf_dim_ordering_tf_kernels.h5` (with the 1000-class top) and
`vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5` (conv body only; what a
model with its own new FC layers, like the paper's, starts from).

Layout, as keras' legacy h5 format writes and `load_weights_from_hdf5_group`
reads it: the root (or its `model_weights` group, in a whole-model file) has
the attribute `layer_names`; each layer is a group of that name whose
attribute `weight_names` lists its datasets in order, kernel then bias. The
dataset names depend on the keras version that saved the file
(`block1_conv1_W_1:0` / `block1_conv1_b_1:0` in the files keras downloads,
`block1_conv1/kernel:0` from keras 2, `kernel` / `bias` paths from keras 3),
so, like keras, we go by the order of `weight_names`, not by the names.
Layers without weights (input, pools, flatten) have an empty list.

Both sides use the same layouts: conv kernels [3, 3, in, out] (HWIO), dense
kernels [in, out], and keras' channels-last `Flatten` feeds fc1 in (H, W, C)
order, as our reshape does. A layer whose shape differs from the model's
(`predictions` with 1000 classes; `fc1` unless the input is 224x224, since
our model flattens the body output rather than pooling it; anything under
`width_multiplier` != 1 or `fc_width` != 4096), or that the file lacks (the
whole top in `_notop`), keeps its fresh initialization and is named in the
returned `Report`, which `restore` logs.

The weights expect keras `preprocess_input` inputs, not our [0, 1] RGB, so
`restore` requires the model's `keras_inputs=True` (`vgg.caffe_preprocess`).
"""

import functools
import os
from typing import Any, NamedTuple

from absl import logging
import jax
import numpy as np

from al_jax.models import vgg

# The weighted layers of keras VGG16, in its order.
CONV_LAYERS = tuple(f'block{b}_conv{c}' for b, n in
                    ((1, 2), (2, 2), (3, 3), (4, 3), (5, 3))
                    for c in range(1, n + 1))
TOP_LAYERS = ('fc1', 'fc2', 'predictions')
LAYERS = CONV_LAYERS + TOP_LAYERS


class Report(NamedTuple):
  """What an import did.

  Attributes:
    imported: names of the layers whose kernel and bias were copied.
    fresh: (name, reason) of the model's layers left at initialization.
  """
  imported: tuple[str, ...]
  fresh: tuple[tuple[str, str], ...]

  def __str__(self) -> str:
    kept = '; '.join(f'{n} ({why})' for n, why in self.fresh) or 'none'
    return (f'imported {len(self.imported)} layers '
            f'({", ".join(self.imported) or "none"}); '
            f'left at fresh initialization: {kept}')


def _h5py():
  try:
    import h5py  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise ImportError('Reading keras .h5 weights needs h5py: '
                      'pip install h5py') from e
  return h5py


def _names(group, attr: str) -> list[str]:
  """A string-list attribute, also when keras split it into attr0, attr1..."""
  if attr in group.attrs:
    raw = list(group.attrs[attr])
  else:
    raw, i = [], 0
    while f'{attr}{i}' in group.attrs:
      raw.extend(group.attrs[f'{attr}{i}'])
      i += 1
  return [n.decode('utf8') if isinstance(n, bytes) else str(n) for n in raw]


def read_h5(path: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
  """Reads a keras VGG-16 weight file.

  Args:
    path: a keras .h5 weight (or whole-model) file of VGG-16.

  Returns:
    {layer name: (kernel, bias)} for the weighted layers in the file, e.g.
    'block1_conv1': ([3, 3, 3, 64], [64]), 'fc1': ([25088, 4096], [4096]).

  Raises:
    FileNotFoundError: no file at `path`.
    ImportError: h5py is not installed.
    ValueError: not an HDF5 file, or not keras VGG-16 weights.
  """
  if not os.path.isfile(path):
    raise FileNotFoundError(
        f'No keras VGG-16 weight file at {path!r} (keras downloads it as '
        'vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5 into '
        '~/.keras/models/).')
  h5py = _h5py()
  try:
    f = h5py.File(path, 'r')
  except OSError as e:
    raise ValueError(f'{path!r} is not an HDF5 file: {e}') from e
  with f:
    root = f
    if 'layer_names' not in f.attrs and 'model_weights' in f:
      root = f['model_weights']  # A whole model saved by keras.
    layer_names = _names(root, 'layer_names')
    if not layer_names:
      raise ValueError(f'{path!r} is not a keras weight file: it has no '
                       "'layer_names' attribute.")
    weights = {}
    for name in layer_names:
      arrays = [np.asarray(root[name][w])
                for w in _names(root[name], 'weight_names')]
      if arrays:
        weights[name] = arrays
  unknown = sorted(set(weights) - set(LAYERS))
  missing = [n for n in CONV_LAYERS if n not in weights]
  if unknown or missing:
    raise ValueError(
        f'{path!r} is not a keras VGG-16 weight file: '
        + (f'unexpected layers {unknown}; ' if unknown else '')
        + (f'missing layers {missing}; ' if missing else '')
        + f'its weighted layers are {list(weights)}.')
  for name, arrays in weights.items():
    ndim = 4 if name in CONV_LAYERS else 2
    if (len(arrays) != 2 or arrays[0].ndim != ndim or arrays[1].ndim != 1
        or arrays[0].shape[-1] != arrays[1].shape[0]):
      raise ValueError(
          f'{path!r}: layer {name} is not a VGG-16 layer: expected a '
          f'{ndim}-d kernel and a matching bias, found shapes '
          f'{[a.shape for a in arrays]}.')
  return {n: (a[0], a[1]) for n, a in weights.items()}


def import_params(params: Any, weights: dict[str, tuple[np.ndarray, np.ndarray]]
                  ) -> tuple[Any, Report]:
  """Copies keras weights into a VGG16 param tree where shapes match.

  Args:
    params: `VGG16` params {layer: {'kernel', 'bias'}}.
    weights: `read_h5` output.

  Returns:
    (params of the same tree structure, the matching layers replaced by the
    file's arrays in the model's dtype and the rest untouched; Report).

  Raises:
    ValueError: `params` are not VGG16's, or no layer matched.
  """
  if sorted(params) != sorted(LAYERS):
    raise ValueError('keras VGG-16 weights fit model "vgg16" only; the '
                     f'model has layers {sorted(params)}.')
  chosen, fresh = {}, []
  for name in LAYERS:
    ours = params[name]
    if name not in weights:
      fresh.append((name, 'not in the file'))
      continue
    kernel, bias = weights[name]
    if (kernel.shape != ours['kernel'].shape
        or bias.shape != ours['bias'].shape):
      fresh.append((name, f'file kernel {kernel.shape}, model '
                          f'{tuple(ours["kernel"].shape)}'))
      continue
    chosen[name] = {'kernel': kernel, 'bias': bias}
  report = Report(tuple(chosen), tuple(fresh))
  if not chosen:
    raise ValueError(
        f'No layer of the keras VGG-16 file fits the model: {report}')

  def fill(path, leaf):
    layer, kind = path[0].key, path[1].key
    if layer not in chosen:
      return leaf
    return np.asarray(chosen[layer][kind], leaf.dtype)

  return jax.tree_util.tree_map_with_path(fill, params), report


@functools.lru_cache(maxsize=16)
def _log_once(note: str):
  logging.warning('%s', note)


def restore(path: str, state, model) -> Any:
  """`train.fit`'s `init_checkpoint` for a keras .h5 file.

  Args:
    path: keras VGG-16 weight file.
    state: freshly initialized TrainState of `model`.
    model: the `VGG16` being trained; must have `keras_inputs=True`.

  Returns:
    `state` with the imported params (the Report is logged, once per text).

  Raises:
    ValueError: `model` is not a VGG16 with `keras_inputs`; see also
      `read_h5` and `import_params`.
  """
  if not isinstance(model, vgg.VGG16):
    raise ValueError(f'init_checkpoint {path!r}: keras VGG-16 weights fit '
                     f'model "vgg16" only, not {type(model).__name__}.')
  if not model.keras_inputs:
    raise ValueError(
        f'init_checkpoint {path!r} holds keras VGG-16 weights, which expect '
        "keras' caffe input preprocessing: set config.model.keras_inputs = "
        'True.')
  params, report = import_params(state.params, read_h5(path))
  _log_once(f'keras VGG-16 weights from {path}: {report}')
  return state.replace(params=params)
