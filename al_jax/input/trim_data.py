"""Tabular data sets of paper 004's trimming experiments, each a fresh draw
per seed, split into training / validation / test rows (wave2.md 3.7).

  gaussians  two isotropic 2-D Gaussians (Table 1): y ~ Bernoulli(1/2),
             x ~ N(μ_y, σ²I) with μ_0 = (−sep/2, 0), μ_1 = (sep/2, 0), or
             ``means`` ((μ_0), (μ_1)); the paper gives neither μ nor σ: sep
             3.5, σ 1 (Bayes accuracy 96.0%, the table's level) by default;
             150 / 100 / 600 rows;
  moons      scikit-learn's two crescents (Table 2), noise 0.3 (not given in
             the paper; ~88–90% for an MLP); 500 / 250 / 250 rows;
  adult      UCI Adult (`input.adult`, Fig. 2): 5,000 training rows drawn
             from its 30,162 and 4,200 test rows from its 7,530 test rows
             (section 5.1, appendix C); validation: all 7,530 rows of the
             validation half (wave2.md 3.8 step 6, our reading); ``path``:
             a folder with the files (default: the installed wheel).

Options for every source: ``noise_rows`` training rows (drawn at random)
get white noise of variance ``noise_variance`` on every feature (Fig. 8:
500 rows, 0.1); ``folds`` > 1 turns the draw into F-fold cross-validation
(appendix E.5, Fig. 13): seeds F·k … F·k + F − 1 share draw k, and seed s
uses fold s mod F of the training rows as the validation set, the other
folds as training rows (the test rows unchanged).

Dimensions: n training, V validation, T test rows, d features.
"""

from typing import NamedTuple

import numpy as np
from sklearn import datasets

from al_jax import config_check
from al_jax.input import adult

SOURCES = ('gaussians', 'moons', 'adult')
KEYS = ('source', 'train', 'validation', 'test', 'separation', 'sigma',
        'noise', 'path', 'noise_rows', 'noise_variance', 'folds', 'means')
COMMON = dict(noise_rows=0, noise_variance=0.1, folds=0)
DEFAULTS = {
    'gaussians': dict(train=150, validation=100, test=600, separation=3.5,
                      sigma=1.0, means=None),
    'moons': dict(train=500, validation=250, test=250, noise=0.3),
    'adult': dict(train=5000, validation=7530, test=4200, path=None),
}


class TrimData(NamedTuple):
  """x_*: [*, d] float64; y_*: [*] int64 in {0, ..., C − 1}."""
  x_train: np.ndarray
  y_train: np.ndarray
  x_val: np.ndarray
  y_val: np.ndarray
  x_test: np.ndarray
  y_test: np.ndarray
  num_classes: int
  name: str


def check(cfg):
  """Validates ``config.input`` before any data is drawn."""
  config_check.check_keys(cfg, KEYS, 'config.input')
  if cfg.get('source') not in SOURCES:
    raise ValueError(f'Unknown config.input.source {cfg.get("source")!r} for '
                     f'the trimming job; valid: {SOURCES}.')
  o = {**COMMON, **DEFAULTS[cfg.source], **dict(cfg)}
  for split in ('train', 'validation', 'test'):
    if int(o[split]) != o[split] or o[split] < 2:
      raise ValueError(f'config.input.{split}={o[split]}: want at least 2 '
                       'rows.')
  if not 0 <= int(o['noise_rows']) <= o['train']:
    raise ValueError(f'config.input.noise_rows={o["noise_rows"]}: want 0 to '
                     f'the {o["train"]} training rows.')
  if o.get('means') is not None and np.shape(o['means']) != (2, 2):
    raise ValueError(f'config.input.means={o["means"]}: want two 2-D means.')
  if int(o['folds']) == 1 or o['folds'] < 0 or o['folds'] > o['train'] // 2:
    raise ValueError(f'config.input.folds={o["folds"]}: want 0 (off) or 2 '
                     f'to half the {o["train"]} training rows.')


def load(cfg, seed: int) -> TrimData:
  """The seed's draw of ``config.input.source`` (module doc)."""
  check(cfg)
  o = {**COMMON, **DEFAULTS[cfg.source], **dict(cfg)}
  folds = int(o['folds'])
  rng = np.random.default_rng(seed // folds if folds else seed)
  if cfg.source == 'adult':
    data = _adult(o, rng)
  else:
    data = _toy(o, rng)
  if folds:
    fold = np.arange(len(data.y_train)) % folds == seed % folds
    data = data._replace(x_train=data.x_train[~fold],
                         y_train=data.y_train[~fold],
                         x_val=data.x_train[fold], y_val=data.y_train[fold])
  if o['noise_rows']:
    noisy = rng.choice(len(data.y_train), int(o['noise_rows']), replace=False)
    x = data.x_train.copy()
    x[noisy] += np.sqrt(float(o['noise_variance'])) * rng.standard_normal(
        (len(noisy), x.shape[1]))
    data = data._replace(x_train=x)
  return data


def _adult(o: dict, rng: np.random.Generator) -> TrimData:
  full = adult.load(o['path'])
  sizes = {'train': len(full.y_train), 'test': len(full.y_test),
           'validation': len(full.y_val)}
  for split, size in sizes.items():
    if o[split] > size:
      raise ValueError(f'config.input.{split}={o[split]}: Adult has {size} '
                       f'{split} rows.')
  pick = lambda n, k: np.sort(rng.choice(n, int(k), replace=False))
  tr, te, va = (pick(sizes[s], o[s]) for s in ('train', 'test', 'validation'))
  return TrimData(full.x_train[tr], full.y_train[tr], full.x_val[va],
                  full.y_val[va], full.x_test[te], full.y_test[te], 2, 'adult')


def _toy(o: dict, rng: np.random.Generator) -> TrimData:
  sizes = [int(o['train']), int(o['validation']), int(o['test'])]
  n = sum(sizes)
  if o['source'] == 'gaussians':
    y = rng.integers(0, 2, n)
    sep = float(o['separation']) / 2
    means = np.array(o['means'] or ((-sep, 0.), (sep, 0.)), np.float64)
    centre = means[y]
    x = centre + float(o['sigma']) * rng.standard_normal((n, 2))
  else:
    x, y = datasets.make_moons(n, noise=float(o['noise']),
                               random_state=int(rng.integers(2 ** 31)))
  x, y = x.astype(np.float64), y.astype(np.int64)
  a, b = sizes[0], sizes[0] + sizes[1]
  return TrimData(x[:a], y[:a], x[a:b], y[a:b], x[b:], y[b:], 2, o['source'])
