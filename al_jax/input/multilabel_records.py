"""A synthetic multi-label image pool on disk, read by streaming.

  multilabel_records:<dir>   (empty <dir>: ~/.cache/al_jax/multilabel_records)

The first run writes `synthetic.make_multilabel`'s pool (Open Images' shape
of problem: a few annotated classes per image, long-tailed positives) as
JPEG images into ArrayRecord files with the labels as their pair list
(`records` layout); every run then reads it through `records.load`, so
images are decoded only when a batch asks for them. It stands in for Open
Images where the real data cannot be downloaded (tests, this machine) and
exercises the whole streaming path: `configs/openimages_cm.py:
arrayrecord_synthetic` runs Cluster-Margin on it.

Images carry the labels: each is the example's feature vector mapped by a
fixed random projection to an 8 x 8 x 3 image, upsampled to S x S, plus pixel
noise. A written pool is reused only if it was made with the same fields
(stored in `<dir>/made_with.json`); otherwise it is refused by name rather
than silently read.

Dimensions: N examples, C classes, F features, S image edge.
"""

import dataclasses
import json
import os

import numpy as np

from al_jax import distributed
from al_jax.input import dataset
from al_jax.input import records
from al_jax.input import sparse_labels
from al_jax.input import synthetic
from al_jax.loops import rundir

DEFAULT_DIR = os.path.join('~', '.cache', 'al_jax', 'multilabel_records')
_LOW = 8  # Edge of the image before upsampling.
_MADE_WITH = 'made_with.json'
_FORMAT = 2  # Pools of format 1 drew test images with another projection.


def _fields(cfg) -> dict:
  get = lambda k, d: dataset.config_value(cfg, k, d)
  return dict(format=_FORMAT, num_examples=int(get('num_examples', 2000)),
              num_classes=int(get('num_classes', 20)),
              num_features=int(get('num_features', 32)),
              annotated_per_example=float(get('annotated_per_example', 6)),
              noise=float(get('noise', 1.0)),
              seed=int(get('seed', 0)),
              test_fraction=float(get('test_fraction', 0.2)),
              image_size=int(get('image_size', 64)))


def images(x: np.ndarray, edge: int, seed: int, split: int):
  """[N, F] features -> N [edge, edge, 3] uint8 images, one at a time: one
  projection per `seed` (train and test alike), pixel noise per `split`."""
  projection = np.random.default_rng([seed, 3]).normal(
      size=(x.shape[1], _LOW * _LOW * 3)) / np.sqrt(x.shape[1])
  rng = np.random.default_rng([seed, 4, split])
  scale = edge // _LOW
  for row in x:
    low = np.tanh(0.5 * (row @ projection)).reshape(_LOW, _LOW, 3)
    image = np.kron(low, np.ones((scale, scale, 1)))
    image += rng.normal(scale=0.1, size=image.shape)
    yield np.clip(127.5 * (image + 1), 0, 255).astype(np.uint8)


def write(folder: str, fields: dict) -> None:
  """Writes the pool of `fields` (`_fields`) into `folder`."""
  if fields['image_size'] % _LOW:
    raise ValueError(f'multilabel_records: image_size must be a multiple of '
                     f'{_LOW}, got {fields["image_size"]}.')
  x, y = synthetic.make_multilabel(
      fields['num_examples'], num_classes=fields['num_classes'],
      num_features=fields['num_features'],
      annotated_per_example=fields['annotated_per_example'],
      noise=fields['noise'], seed=fields['seed'])
  order = np.random.default_rng([fields['seed'], 1]).permutation(len(x))
  num_test = int(round(fields['test_fraction'] * len(x)))
  for i, (split, rows) in enumerate((('test', order[:num_test]),
                                     ('train', np.sort(order[num_test:])))):
    records.write(folder, split, images(x[rows], fields['image_size'],
                                        fields['seed'], i),
                  sparse_labels.SparseLabels.from_dense(y[rows]),
                  rows.astype(str), fields['num_classes'],
                  image_format='JPEG')
  # Last, and atomic: the pool is whole.
  rundir.atomic_write(os.path.join(folder, _MADE_WITH),
                      lambda f: json.dump(fields, f, indent=2, sort_keys=True),
                      'w')


def load(cfg, folder: str) -> dataset.Dataset:
  """The `multilabel_records:<dir>` source (module docstring)."""
  folder = os.path.expanduser(folder or DEFAULT_DIR)
  fields = _fields(cfg)
  made = os.path.join(folder, _MADE_WITH)
  if distributed.is_main() and not os.path.exists(made):
    write(folder, fields)
  distributed.barrier('multilabel_records written')  # Process 0 wrote.
  with open(made) as f:
    found = json.load(f)
  if found != fields:
    changed = sorted(k for k in fields if found.get(k) != fields[k])
    raise ValueError(
        f'multilabel_records:{folder} was written with other fields '
        f'({", ".join(f"{k}={found.get(k)}" for k in changed)}; this config '
        f'asks {", ".join(f"{k}={fields[k]}" for k in changed)}): delete the '
        'folder or give another one.')
  ds = records.load(cfg, folder)
  return dataclasses.replace(ds, name=f'multilabel_records:{folder}')
