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
    x_train: [N, H, W, C] uint8 images, or [N, F] float32 features; for
      pools larger than memory, a `records.RecordArray` of images (decoded
      when indexed).
    y_train: [N] int32 class ids, -1 where the label is unknown (a person
      is asked for it: `labeling`); multilabel: [N, C] int8 in
      {-1 not a candidate pair, 0 negative, 1 positive, -2 a candidate pair
      whose label is unknown (a person is asked)}, held as
      `sparse_labels.SparseLabels` once `sources.load` returns it.
    x_test: [M, ...] like x_train.
    y_test: [M, ...] like y_train.
    num_classes: number of classes C.
    name: the source name it was loaded from.
    multilabel: whether labels are [N, C] partial multi-label annotations.
    x_val, y_val: a labelled validation split like the test split, where the
      source has one (UCI Adult), else None.
    ids_train: [N] str stable example IDs (the source's own, else the row
      number in the source before any split); None fills row numbers.
    paths_train: [N] str file of each example, for annotators, or None.
    version: the source's version, where it has one.
    class_names: C names people answer with (else the class numbers).
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
  ids_train: np.ndarray | None = None
  paths_train: np.ndarray | None = None
  version: str = ''
  class_names: tuple[str, ...] | None = None

  @property
  def train_ids(self) -> np.ndarray:
    """[N] str stable IDs of the training examples."""
    if self.ids_train is None:
      return np.arange(len(self.x_train)).astype(str)
    return np.asarray(self.ids_train).astype(str)

  def train_rows(self, keep: np.ndarray) -> 'Dataset':
    """The data set with only training rows `keep` (IDs and paths follow)."""
    take = lambda a: None if a is None else np.asarray(a)[keep]
    return dataclasses.replace(
        self, x_train=rows_of(self.x_train, keep),
        y_train=rows_of(self.y_train, keep),
        ids_train=self.train_ids[keep], paths_train=take(self.paths_train))

  @property
  def is_image(self) -> bool:
    return self.x_train.ndim == 4

  @property
  def input_shape(self) -> tuple[int, ...]:
    return tuple(self.x_train.shape[1:])


def rows_of(x, rows: np.ndarray):
  """x[rows]; a view for arrays decoded on access (`records.RecordArray`,
  `sparse_labels.SparseLabels`), so that a subsample of a pool larger than
  memory is not decoded."""
  return x.lazy_rows(rows) if decoded_on_access(x) else x[rows]


def decoded_on_access(x) -> bool:
  """Whether x's rows are made only when asked for (`records.RecordArray`
  decodes them from disk, `sparse_labels.SparseLabels` densifies them), so
  x is never one array in memory."""
  return hasattr(x, 'lazy_rows')


def as_rows(x):
  """x as an array read by rows: arrays decoded on access stay as they are
  (they may not fit in memory), anything else goes through np.asarray."""
  return x if decoded_on_access(x) else np.asarray(x)


def config_value(cfg: Any, key: str, default: Any = None) -> Any:
  """Reads an optional field of a ConfigDict, dict or plain attribute object.

  A field explicitly set to None counts as unset, so configs can declare
  placeholders (e.g. `data_dir=None`) without overriding the defaults.
  """
  value = cfg.get(key) if hasattr(cfg, 'get') else getattr(cfg, key, None)
  return default if value is None else value


def split_train_test(cfg, x: np.ndarray, y: np.ndarray,
                     **fields) -> Dataset:
  """Seeded random train/test split for sources without a test split.

  Args:
    cfg: ``config.input``: test_fraction (0.2), the fraction of the N
      examples put in the test set, and seed (0): the same seed always
      gives the same split.
    x: [N, ...] inputs.
    y: [N, ...] labels.
    **fields: the other `Dataset` fields; `ids_train` and `paths_train`,
      if given, are [N] over all examples (IDs default to row numbers).

  Returns:
    The Dataset; its training IDs are those of the rows it kept.
  """
  test_fraction = config_value(cfg, 'test_fraction', 0.2)
  seed = config_value(cfg, 'seed', 0)
  if not 0.0 <= test_fraction < 1.0:
    raise ValueError(f'test_fraction must be in [0, 1), got {test_fraction}')
  # Separate stream from data generation so the split does not depend on it.
  order = np.random.default_rng([seed, 1]).permutation(len(x))
  num_test = int(round(test_fraction * len(x)))
  test, train = order[:num_test], order[num_test:]
  ids = fields.pop('ids_train', None)
  ids = np.arange(len(x)).astype(str) if ids is None else np.asarray(ids)
  paths = fields.pop('paths_train', None)
  return Dataset(rows_of(x, train), rows_of(y, train), rows_of(x, test),
                 rows_of(y, test),
                 ids_train=ids[train],
                 paths_train=None if paths is None else
                 np.asarray(paths)[train], **fields)


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

  Checks: non-empty train set, matching x/y lengths, finite float features,
  labels in range ([0, C) class ids or -1 unknown, or {-2, -1, 0, 1} with
  C columns) and unique training IDs.
  """
  if len(ds.x_train) == 0:
    raise ValueError(f'{ds.name}: the train set is empty.')
  ids = ds.train_ids
  if len(ids) != len(ds.x_train):
    raise ValueError(f'{ds.name}: {len(ids)} IDs for {len(ds.x_train)} '
                     'training examples.')
  uniq, counts = np.unique(ids, return_counts=True)
  if (counts > 1).any():
    raise ValueError(f'{ds.name}: example IDs repeat, e.g. '
                     f'{uniq[counts > 1][:5].tolist()}; each needs its own.')
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
      values = y.value if hasattr(y, 'value') else y
      if not np.isin(values, (-2, -1, 0, 1)).all():
        raise ValueError(f'{ds.name}: multilabel y_{split} has values outside '
                         '{-2, -1, 0, 1}.')
    elif y.size and (y.min() < -1 or y.max() >= ds.num_classes):
      raise ValueError(f'{ds.name}: y_{split} has labels in [{y.min()}, '
                       f'{y.max()}], outside [0, {ds.num_classes}) and -1 '
                       '(unknown).')


def require_labels(ds: Dataset, job: str) -> None:
  """Raises ValueError when `job`, which trains on the whole pool, gets a
  pool with unknown (-1) labels."""
  if not ds.multilabel and len(ds.y_train) and ds.y_train.min() < 0:
    missing = np.flatnonzero(ds.y_train < 0)
    raise ValueError(
        f'{ds.name}: the {job} job trains on every pool label, but '
        f'{len(missing)} examples have none (e.g. IDs '
        f'{ds.train_ids[missing[:5]].tolist()}). The active and label_free '
        'jobs ask people for them (--oracle=export).')
