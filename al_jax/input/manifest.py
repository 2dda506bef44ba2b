"""Pools people label: an image folder, or a CSV/JSONL manifest.

  folder:<dir>      every image under <dir> (.jpg .jpeg .png .bmp .gif),
                    ID = its path relative to <dir>. An image in a first-level
                    subfolder named after a class carries that label; any
                    other image is unlabelled (-1). Classes: input.class_names,
                    else the subfolder names (sorted), without 'unlabeled'.
  manifest:<file>   one example per row of a CSV (with a header) or JSONL
                    file: id; path (an image, relative to the file's folder)
                    or features (JSONL: a list; CSV: columns f0, f1, ...);
                    label (a class name or number, empty if unknown);
                    split ('train' or 'test', default train).

Images are decoded to input.image_size² RGB (default 32). Without test rows
the seeded split of `load` applies (test_fraction); test examples without
labels are not scored (`evaluators.accuracy.known_accuracy`).
"""

import csv
import json
import os

import numpy as np

from al_jax.input import dataset
from al_jax.input import openimages_v6

IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.gif')
UNLABELED = 'unlabeled'


def _classes(cfg, found) -> tuple[str, ...]:
  names = dataset.config_value(cfg, 'class_names')
  names = tuple(str(c) for c in names) if names else tuple(sorted(found))
  if not names:
    raise ValueError('No class is known: set input.class_names to the '
                     'classes people will label.')
  return names


def class_index(value, names) -> int | None:
  """A class name or number -> its index in `names`; None if it is neither."""
  text = str(value).strip()
  if text in names:
    return names.index(text)
  try:
    c = int(text)
  except ValueError:
    return None
  return c if 0 <= c < len(names) else None


def _label(value, names, where: str) -> int:
  """class_index, -1 for an empty (unknown) label."""
  if value is None or str(value).strip() == '':
    return -1
  c = class_index(value, names)
  if c is None:
    raise ValueError(f'{where}: label {str(value).strip()!r} is not one of '
                     f'the classes {list(names)[:10]}.')
  return c


def _finish(cfg, name, x, y, ids, paths, names, test) -> dataset.Dataset:
  fields = dict(num_classes=len(names), name=name, class_names=names,
                ids_train=np.asarray(ids), paths_train=paths)
  if not test.any():
    return dataset.split_train_test(cfg, x, y, **fields)
  fields.update(ids_train=fields['ids_train'][~test],
                paths_train=None if paths is None else paths[~test])
  return dataset.Dataset(x[~test], y[~test], x[test], y[test], **fields)


def load_folder(cfg, root: str) -> dataset.Dataset:
  """The images under `root` (see the module docstring)."""
  if not os.path.isdir(root):
    raise FileNotFoundError(f'folder source: no such directory: {root}')
  files = sorted(
      os.path.relpath(os.path.join(d, f), root)
      for d, _, fs in os.walk(root) for f in fs
      if f.lower().endswith(IMAGE_EXTENSIONS))
  if not files:
    raise FileNotFoundError(f'folder source: no image ({", ".join(IMAGE_EXTENSIONS)}) '
                            f'under {root}')
  tops = [f.split(os.sep)[0] if os.sep in f else '' for f in files]
  names = _classes(cfg, {t for t in tops if t and t != UNLABELED})
  y = np.array([names.index(t) if t in names else -1 for t in tops], np.int32)
  paths = np.array([os.path.join(root, f) for f in files])
  size = dataset.config_value(cfg, 'image_size', 32)
  x = openimages_v6.read_images(paths.tolist(), size)
  return _finish(cfg, f'folder:{root}', x, y, files, paths, names,
                 np.zeros(len(files), bool))


def records(path: str, required=()):
  """(line number, dict) per row of a JSONL file (.jsonl, .json) or of a CSV
  file with a header, which must name the `required` columns."""
  with open(path, newline='') as f:
    if path.endswith(('.jsonl', '.json')):
      for n, line in enumerate(f, 1):
        if line.strip():
          try:
            yield n, json.loads(line)
          except json.JSONDecodeError as e:
            raise ValueError(f'{path} line {n}: not JSON ({e}).') from e
      return
    reader = csv.DictReader(f)
    if reader.fieldnames is None or not set(required) <= set(
        reader.fieldnames):
      raise ValueError(f'{path}: the first line must name the columns, with '
                       f'{list(required)}; got {reader.fieldnames}.')
    for row in reader:
      yield reader.line_num, row


def load_manifest(cfg, path: str) -> dataset.Dataset:
  """The examples listed in `path` (see the module docstring)."""
  if not os.path.isfile(path):
    raise FileNotFoundError(f'manifest source: no such file: {path}')
  rows = list(records(path, ('id',)))
  if not rows:
    raise ValueError(f'{path}: no example rows.')
  for n, row in rows:
    if not str(row.get('id') or '').strip():
      raise ValueError(f'{path} line {n}: no id.')
    if not (row.get('path') or row.get('features') is not None or
            'f0' in row):
      raise ValueError(f'{path} line {n}: neither path nor features.')
  names = _classes(cfg, {str(r['label']).strip() for _, r in rows
                         if str(r.get('label') or '').strip()})
  y = np.array([_label(r.get('label'), names, f'{path} line {n}')
                for n, r in rows], np.int32)
  ids = [str(r['id']).strip() for _, r in rows]
  test = np.array([str(r.get('split') or 'train').strip() == 'test'
                   for _, r in rows])
  if rows[0][1].get('path'):
    folder = os.path.dirname(os.path.abspath(path))
    paths = np.array([os.path.join(folder, r['path']) for _, r in rows])
    x = openimages_v6.read_images(
        paths.tolist(), dataset.config_value(cfg, 'image_size', 32))
  else:
    paths = None
    width = sum(1 for k in rows[0][1] if k[1:].isdigit() and k[0] == 'f')
    x = np.array([r['features'] if 'features' in r else
                  [r[f'f{j}'] for j in range(width)] for _, r in rows],
                 np.float32)
    dataset.check_rows_finite(x, path)
  return _finish(cfg, f'manifest:{path}', x, y, ids, paths, names, test)
