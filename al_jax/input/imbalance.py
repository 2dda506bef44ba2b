"""Class-imbalanced pools (paper 002 appendix D.2.2, Tables 7-8).

"We make CIFAR100 imbalanced in two ways. First, by using exponential decay
N_{c_i} × e^{-0.01 i} where N_{c_i} is the number of samples for class c_i.
Second, by pruning 80% of data from 20% of classes."

  exponential: class i keeps round(N_i · e^(−rate·i)) of its N_i examples
    (rate 0.01 as the paper: on 100 classes the largest/smallest ratio is
    e^0.99 ≈ 2.7; a 10-class analogue of the same ratio uses rate 0.11).
  step: the last ⌈fraction·C⌉ classes (highest class ids; the paper does
    not say which classes) keep round((1 − prune)·N_i) examples.

Only the training pool is made imbalanced; the test split stays as it is,
so accuracy is still measured on every class. Which examples a class keeps
is a seeded uniform draw.

Dimensions: N pool, C classes.
"""

import numpy as np

KINDS = ('exponential', 'step')


def keep_counts(counts: np.ndarray, kind: str, rate: float = 0.01,
                fraction: float = 0.2, prune: float = 0.8) -> np.ndarray:
  """[C] examples each class keeps of its `counts` [C]."""
  counts = np.asarray(counts, np.int64)
  c = len(counts)
  if kind == 'exponential':
    if rate < 0:
      raise ValueError(f'input.imbalance_rate={rate} must be >= 0.')
    keep = np.round(counts * np.exp(-rate * np.arange(c)))
  elif kind == 'step':
    if not 0 < fraction <= 1 or not 0 <= prune < 1:
      raise ValueError(f'input.imbalance_classes={fraction} must be in (0, 1] '
                       f'and input.imbalance_prune={prune} in [0, 1).')
    minority = np.arange(c) >= c - int(np.ceil(fraction * c))
    keep = np.where(minority, np.round((1 - prune) * counts), counts)
  else:
    raise ValueError(f'Unknown input.imbalance {kind!r}; valid: {KINDS}.')
  return np.maximum(keep, np.minimum(counts, 1)).astype(np.int64)


def imbalanced_indices(labels: np.ndarray, num_classes: int, kind: str,
                       seed: int = 0, **params) -> np.ndarray:
  """[M] ascending pool rows kept: per class a seeded uniform draw of
  `keep_counts` examples (at least one while the class has any)."""
  labels = np.asarray(labels)
  if labels.ndim != 1:
    raise ValueError('input.imbalance needs multi-class labels [N].')
  counts = np.bincount(labels, minlength=num_classes)
  keep = keep_counts(counts, kind, **params)
  rng = np.random.default_rng(seed)
  rows = [rng.choice(np.flatnonzero(labels == k), keep[k], replace=False)
          for k in range(num_classes) if keep[k]]
  return np.sort(np.concatenate(rows))
