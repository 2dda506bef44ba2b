"""Multi-label annotations held as their pair list, never as an [N, C] array.

Open Images' train fold has ~1.7M images and ~20K classes but only a few
dozen annotated classes per image: a dense [N, C] int8 label array is ~35 GB,
its pair list (paper 000 section 3.2's pool) a few hundred MB. `SparseLabels`
stands in for the dense array wherever a job reads multi-label labels:

  y[rows], y[a:b]    dense [K, C] int8 rows (a training batch)
  y.lazy_rows(rows)  the SparseLabels of those rows (a split, a subsample)
  y.image, y.cls, y.value   the [P] annotated pairs, row-major

Values follow `input.sources`: 0 negative, 1 positive, -2 a pair whose label
people will give; -1 (not annotated) is every entry not in the list. Turning
the whole thing into one array is refused by name; `dense()` does it
explicitly (tests, small pools).

Dimensions: N rows, C classes, P annotated pairs, K rows asked for.
"""

import numpy as np


class SparseLabels:
  """[N, C] int8 multi-label labels in compressed sparse rows.

  Args:
    indptr: [N + 1] int64, row i's pairs are positions indptr[i]:indptr[i+1].
    cls: [P] int32 class of each pair, ascending within a row.
    value: [P] int8 label of each pair, in {-2, 0, 1}.
    num_classes: C.
    check: whether to validate the arrays (off where they are rows of
      labels already checked: views, concatenations).
  """

  dtype = np.dtype(np.int8)
  ndim = 2

  def __init__(self, indptr, cls, value, num_classes: int,
               check: bool = True):
    self.indptr = np.asarray(indptr, np.int64)
    self.cls = np.asarray(cls, np.int32)
    self.value = np.asarray(value, np.int8)
    self.num_classes = int(num_classes)
    if (len(self.cls) != len(self.value) or self.indptr[0] != 0
        or self.indptr[-1] != len(self.cls) or np.any(np.diff(self.indptr) < 0)):
      raise ValueError(f'SparseLabels: indptr ends at {self.indptr[-1]}, '
                       f'{len(self.cls)} classes, {len(self.value)} values.')
    if not check:
      return
    keys = self.image * self.num_classes + self.cls
    if (self.cls.size and (self.cls.min() < 0 or self.cls.max() >= num_classes)
        or np.any(np.diff(keys) <= 0)
        or not np.isin(self.value, (-2, 0, 1)).all()):
      raise ValueError('SparseLabels: classes must be in [0, C) and ascending '
                       'within each row, each pair once, values in {-2, 0, '
                       '1}.')

  @classmethod
  def from_pairs(cls_, image, cls, value, num_rows: int,
                 num_classes: int) -> 'SparseLabels':
    """From [P] (image, class, value) triples in any order.

    Raises:
      ValueError: a pair outside [0, N) x [0, C), listed twice, or a value
        not in {-2, 0, 1}.
    """
    image, cls = np.asarray(image, np.int64), np.asarray(cls, np.int64)
    value = np.asarray(value)
    if image.size and (image.min() < 0 or image.max() >= num_rows
                       or cls.min() < 0 or cls.max() >= num_classes):
      raise ValueError(f'Label pairs outside [0, {num_rows}) x '
                       f'[0, {num_classes}).')
    if not np.isin(value, (-2, 0, 1)).all():
      raise ValueError('Label values must be -2, 0 or 1.')
    order = np.lexsort((cls, image))
    image, cls, value = image[order], cls[order], value[order]
    twice = (np.diff(image) == 0) & (np.diff(cls) == 0)
    if twice.any():
      i = int(np.flatnonzero(twice)[0])
      raise ValueError(f'Label pair (row {image[i]}, class {cls[i]}) is '
                       'listed twice.')
    indptr = np.zeros(num_rows + 1, np.int64)
    np.cumsum(np.bincount(image, minlength=num_rows), out=indptr[1:])
    return cls_(indptr, cls, value, num_classes, check=False)  # Checked.

  @classmethod
  def from_dense(cls_, y: np.ndarray) -> 'SparseLabels':
    """[N, C] labels, -1 where not annotated."""
    y = np.asarray(y)
    image, c = np.nonzero(y != -1)
    return cls_.from_pairs(image, c, y[image, c], len(y), y.shape[1])

  @property
  def shape(self) -> tuple[int, int]:
    return (len(self.indptr) - 1, self.num_classes)

  def __len__(self) -> int:
    return len(self.indptr) - 1

  @property
  def image(self) -> np.ndarray:
    """[P] int64 row of each pair."""
    return np.repeat(np.arange(len(self), dtype=np.int64),
                     np.diff(self.indptr))

  def at(self, image, cls) -> np.ndarray:
    """[Q] int8 labels of pairs (image [Q], cls [Q]); -1 where not
    annotated."""
    image, cls = np.asarray(image, np.int64), np.asarray(cls, np.int64)
    keys = self.image * self.num_classes + self.cls
    want = image * self.num_classes + cls
    pos = np.minimum(np.searchsorted(keys, want), max(len(keys) - 1, 0))
    found = (keys[pos] == want) if len(keys) else np.zeros(len(want), bool)
    return np.where(found, self.value[pos] if len(keys) else -1,
                    -1).astype(np.int8)

  def _gather(self, rows: np.ndarray):
    """(positions [Q] of the pairs of `rows`, in row order; [Q] the position
    in `rows` each belongs to; [K] pair counts)."""
    start, counts = self.indptr[rows], np.diff(self.indptr)[rows]
    owner = np.repeat(np.arange(len(rows)), counts)
    first = np.cumsum(counts) - counts
    return start[owner] + np.arange(len(owner)) - first[owner], owner, counts

  def _rows(self, key) -> np.ndarray:
    return np.arange(len(self), dtype=np.int64)[key]

  def __getitem__(self, key) -> np.ndarray:
    """Dense rows: [C] for an int, [K, C] int8 for a slice or index array."""
    if isinstance(key, (int, np.integer)):
      return self[np.array([key])][0]
    rows = self._rows(key)
    pos, owner, _ = self._gather(rows)
    out = np.full((len(rows), self.num_classes), -1, np.int8)
    out[owner, self.cls[pos]] = self.value[pos]
    return out

  def lazy_rows(self, rows) -> 'SparseLabels':
    """The labels of `rows` ([K] positions, in the order given)."""
    pos, _, counts = self._gather(self._rows(np.asarray(rows, np.int64)))
    indptr = np.zeros(len(counts) + 1, np.int64)
    np.cumsum(counts, out=indptr[1:])
    return SparseLabels(indptr, self.cls[pos], self.value[pos],
                        self.num_classes, check=False)

  def dense(self) -> np.ndarray:
    """[N, C] int8, -1 where not annotated (only for pools that fit)."""
    return self[np.arange(len(self))]

  def __array__(self, dtype=None, copy=None):
    raise TypeError(
        f'SparseLabels of shape {self.shape} are not turned into one array '
        '(they may not fit in memory); index the rows needed, or call '
        'dense().')


def concatenate(parts) -> SparseLabels:
  """The rows of every part, in order (all with the same C)."""
  parts = list(parts)
  counts = np.concatenate([np.diff(p.indptr) for p in parts])
  indptr = np.zeros(len(counts) + 1, np.int64)
  np.cumsum(counts, out=indptr[1:])
  return SparseLabels(indptr, np.concatenate([p.cls for p in parts]),
                      np.concatenate([p.value for p in parts]),
                      parts[0].num_classes, check=False)


def as_sparse(y) -> SparseLabels:
  """`y` as SparseLabels: kept if it is one, else converted from [N, C]."""
  return y if isinstance(y, SparseLabels) else SparseLabels.from_dense(y)
