"""The in-memory data set every source returns, and the checks and helpers
the sources share (`sources` and `tfds_source` import it; it imports
neither)."""

import dataclasses
from typing import Any

import numpy as np


@dataclasses.dataclass(frozen=True)
class Dataset:
  """A data set held in host memory.

  Attributes:
    x_train: [N, H, W, C] uint8 images, or [N, F] float32 features.
    y_train: [N] int32 class ids; multilabel: [N, C] int8 in
      {-1 unannotated, 0 negative, 1 positive}.
    x_test: [M, ...] like x_train.
    y_test: [M, ...] like y_train.
    num_classes: number of classes C.
    name: the source name it was loaded from.
    multilabel: whether labels are [N, C] partial multi-label annotations.
    x_val, y_val: a labelled validation split like the test split, where the
      source has one (UCI Adult), else None.
  """
  x_train: np.ndarray
  y_train: np.ndarray
  x_test: np.ndarray
  y_test: np.ndarray
  num_classes: int
  name: str
  multilabel: bool = False
  x_val: np.ndarray | None = None
  y_val: np.ndarray | None = None

  @property
  def is_image(self) -> bool:
    return self.x_train.ndim == 4

  @property
  def input_shape(self) -> tuple[int, ...]:
    return tuple(self.x_train.shape[1:])


def config_value(cfg: Any, key: str, default: Any = None) -> Any:
  """Reads an optional field of a ConfigDict, dict or plain attribute object.

  A field explicitly set to None counts as unset, so configs can declare
  placeholders (e.g. `data_dir=None`) without overriding the defaults.
  """
  value = cfg.get(key) if hasattr(cfg, 'get') else getattr(cfg, key, None)
  return default if value is None else value


def split_train_test(x: np.ndarray, y: np.ndarray, test_fraction: float,
                     seed: int):
  """Seeded random train/test split for sources without a test split.

  Args:
    x: [N, ...] inputs.
    y: [N, ...] labels.
    test_fraction: fraction of the N examples put in the test set.
    seed: the same seed always gives the same split.

  Returns:
    (x_train, y_train, x_test, y_test).
  """
  if not 0.0 <= test_fraction < 1.0:
    raise ValueError(f'test_fraction must be in [0, 1), got {test_fraction}')
  # Separate stream from data generation so the split does not depend on it.
  order = np.random.default_rng([seed, 1]).permutation(len(x))
  num_test = int(round(test_fraction * len(x)))
  test, train = order[:num_test], order[num_test:]
  return x[train], y[train], x[test], y[test]


def subsample_indices(num_examples: int, max_examples: int | None,
                      seed: int) -> np.ndarray:
  """Sorted seeded subset of range(num_examples) of size <= max_examples."""
  if max_examples is None or num_examples <= max_examples:
    return np.arange(num_examples)
  rng = np.random.default_rng([seed, 2])
  # Sorted so file-backed sources are read in storage order.
  return np.sort(rng.choice(num_examples, size=max_examples, replace=False))


def as_model_inputs(x: np.ndarray, where: str) -> np.ndarray:
  """[N, H, W(, C)] uint8 images or [N, F] features -> the Dataset dtypes.

  Args:
    x: [N, H, W, C] or [N, H, W] (grayscale) uint8 images, or [N, F] features.
    where: description for error messages.

  Returns:
    [N, H, W, C] uint8 images or [N, F] float32 features.
  """
  if x.ndim == 3:  # Grayscale images without a channel axis.
    x = x[..., None]
  if x.ndim == 4:
    if x.dtype != np.uint8:
      raise ValueError(f'{where}: images must be uint8, got {x.dtype}.')
    return x
  if x.ndim == 2:
    return x.astype(np.float32)
  raise ValueError(f'{where}: expected [N, F] or [N, H, W, C], got {x.shape}.')


def check_rows_finite(x: np.ndarray, what: str) -> None:
  """Raises ValueError naming the rows of float `x` [N, ...] with NaN/inf."""
  if np.issubdtype(x.dtype, np.floating):
    bad_rows = np.flatnonzero(~np.isfinite(x.reshape(len(x), -1)).all(1))
    if bad_rows.size:
      raise ValueError(f'{what} has {bad_rows.size} rows with NaN/inf values, '
                       f'first rows: {bad_rows[:5].tolist()}.')


def check_finite(ds: Dataset) -> None:
  """Validates a data set; raises ValueError on the first problem found.

  Checks: non-empty train set, matching x/y lengths, finite float features
  and labels in range ([0, C) class ids, or {-1, 0, 1} with C columns).
  """
  if len(ds.x_train) == 0:
    raise ValueError(f'{ds.name}: the train set is empty.')
  for split in ('train', 'test'):
    x, y = getattr(ds, f'x_{split}'), getattr(ds, f'y_{split}')
    if len(x) != len(y):
      raise ValueError(f'{ds.name}: x_{split} has {len(x)} rows but y_{split} '
                       f'has {len(y)}.')
    check_rows_finite(x, f'{ds.name}: x_{split}')
    if ds.multilabel:
      if y.ndim != 2 or y.shape[1] != ds.num_classes:
        raise ValueError(f'{ds.name}: multilabel y_{split} must be '
                         f'[N, {ds.num_classes}], got {y.shape}.')
      if not np.isin(y, (-1, 0, 1)).all():
        raise ValueError(f'{ds.name}: multilabel y_{split} has values outside '
                         '{-1, 0, 1}.')
    elif y.size and (y.min() < 0 or y.max() >= ds.num_classes):
      raise ValueError(f'{ds.name}: y_{split} has labels in [{y.min()}, '
                       f'{y.max()}], outside [0, {ds.num_classes}).')
