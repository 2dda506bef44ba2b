"""Tabular data sets of paper 004's trimming experiments, each a fresh draw
per seed, split into training / validation / test rows (wave2.md 3.7).

  gaussians  two isotropic 2-D Gaussians (Table 1): y ~ Bernoulli(1/2),
             x ~ N(μ_y, σ²I) with μ_0 = (−sep/2, 0), μ_1 = (sep/2, 0); the
             paper gives neither μ nor σ: sep 3.5, σ 1 (Bayes accuracy 96.0%,
             the table's level) by default; 150 / 100 / 600 rows;
  moons      scikit-learn's two crescents (Table 2), noise 0.3 (not given in
             the paper; ~88–90% for an MLP); 500 / 250 / 250 rows.

Dimensions: n training, V validation, T test rows, d features.
"""

from typing import NamedTuple

import numpy as np
from sklearn import datasets

from al_jax import config_check

SOURCES = ('gaussians', 'moons')
KEYS = ('source', 'train', 'validation', 'test', 'separation', 'sigma',
        'noise')
DEFAULTS = {
    'gaussians': dict(train=150, validation=100, test=600, separation=3.5,
                      sigma=1.0),
    'moons': dict(train=500, validation=250, test=250, noise=0.3),
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
  for split in ('train', 'validation', 'test'):
    size = cfg.get(split, DEFAULTS[cfg.source][split])
    if int(size) != size or size < 2:
      raise ValueError(f'config.input.{split}={size}: want at least 2 rows.')


def load(cfg, seed: int) -> TrimData:
  """The seed's draw of ``config.input.source`` (module doc)."""
  check(cfg)
  o = {**DEFAULTS[cfg.source], **dict(cfg)}
  sizes = [int(o['train']), int(o['validation']), int(o['test'])]
  n = sum(sizes)
  rng = np.random.default_rng(seed)
  if cfg.source == 'gaussians':
    y = rng.integers(0, 2, n)
    centre = np.stack([(2 * y - 1) * float(o['separation']) / 2,
                       np.zeros(n)], 1)
    x = centre + float(o['sigma']) * rng.standard_normal((n, 2))
  else:
    x, y = datasets.make_moons(n, noise=float(o['noise']),
                               random_state=int(rng.integers(2 ** 31)))
  x, y = x.astype(np.float64), y.astype(np.int64)
  a, b = sizes[0], sizes[0] + sizes[1]
  return TrimData(x[:a], y[:a], x[a:b], y[a:b], x[b:], y[b:], 2, cfg.source)
