"""The label ledger: the labels bought so far (`labeling.oracle` sells them).

The ledger is the source of truth of an active-learning run: it is written
atomically after every purchase, and a resumed run continues from it. Nothing
ever removes an entry, so bought labels are never lost.

Dimensions: N pool, L labels bought.
"""

import dataclasses
import json

from etils import epath
import numpy as np

from al_jax.input.pool_id import PoolId
from al_jax.loops import rundir


@dataclasses.dataclass(frozen=True)
class Ledger:
  """Labels bought, in purchase order.

  Attributes:
    indices: [L] int64 pool indices.
    labels: [L] (or [L, C]) labels revealed by the oracle.
    rounds: [L] int32 round in which each label was bought (0 = seed set).
    weights: [L] float32 training weight of each label (1 unless the
      strategy gave weights).
    complete: the last round whose selection finished; labels of a later
      round were bought in the middle of a selection (`Context.query`) that
      was interrupted, and a resumed run reuses them.
    ids: [L] str stable IDs of the bought items ('' in files written before
      IDs existed).
    pool: the `PoolId` the indices point into (saved as its fingerprint;
      `load` checks it), or None.
  """
  indices: np.ndarray
  labels: np.ndarray
  rounds: np.ndarray
  weights: np.ndarray = None
  complete: int = -1
  ids: np.ndarray = None
  pool: PoolId | None = dataclasses.field(default=None, compare=False)

  def __post_init__(self):
    if self.weights is None:
      object.__setattr__(self, 'weights',
                         np.ones(len(self.indices), np.float32))
    if self.ids is None:
      object.__setattr__(self, 'ids', self._ids_of(self.indices))

  def _ids_of(self, indices) -> np.ndarray:
    if self.pool is None:
      return np.full(len(indices), '')
    return self.pool.ids[np.asarray(indices, np.int64)]

  @classmethod
  def empty(cls, label_shape: tuple[int, ...] = (), label_dtype=np.int32,
            pool: PoolId | None = None) -> 'Ledger':
    return cls(np.zeros((0,), np.int64),
               np.zeros((0,) + tuple(label_shape), label_dtype),
               np.zeros((0,), np.int32), pool=pool)

  def __len__(self) -> int:
    return len(self.indices)

  @property
  def last_round(self) -> int:
    """The latest round with a purchase, -1 when empty."""
    return int(self.rounds.max()) if len(self) else -1

  def add(self, round_: int, indices: np.ndarray, labels: np.ndarray,
          complete: bool = True) -> 'Ledger':
    """A new ledger with `indices` bought in `round_` (weight 1).

    Args:
      complete: whether `round_`'s selection is finished with this purchase
        (False for a purchase in the middle of a selection).

    Raises:
      ValueError: an index is repeated or already in the ledger, or the round
        goes backwards.
    """
    indices = np.asarray(indices, np.int64)
    if len(np.unique(indices)) != len(indices):
      raise ValueError('A purchase lists the same pool index twice.')
    again = np.intersect1d(indices, self.indices)
    if len(again):
      raise ValueError(f'{len(again)} indices are already labeled, e.g. '
                       f'{again[:5].tolist()}.')
    if round_ < self.last_round:
      raise ValueError(f'Round {round_} comes after round {self.last_round}.')
    return Ledger(
        np.concatenate([self.indices, indices]),
        np.concatenate([self.labels, np.asarray(labels, self.labels.dtype)]),
        np.concatenate([self.rounds, np.full(len(indices), round_, np.int32)]),
        np.concatenate([self.weights, np.ones(len(indices), np.float32)]),
        max(self.complete, round_) if complete else self.complete,
        np.concatenate([self.ids, self._ids_of(indices)]), self.pool)

  def position(self, indices) -> np.ndarray:
    """[K] position of each pool index in the ledger, -1 if not bought."""
    idx = np.asarray(indices, np.int64)
    if not len(self):
      return np.full(idx.shape, -1, np.int64)
    order = np.argsort(self.indices, kind='stable')
    at = np.minimum(np.searchsorted(self.indices[order], idx), len(self) - 1)
    return np.where(self.indices[order][at] == idx, order[at], -1)

  def with_weights(self, indices, weights) -> 'Ledger':
    """A new ledger whose labels of `indices` (all bought) weigh `weights`."""
    pos = self.position(indices)
    if (pos < 0).any():
      raise ValueError('Weights given for labels that were not bought.')
    w = self.weights.copy()
    w[pos] = np.asarray(weights, np.float32)
    return dataclasses.replace(self, weights=w)

  def upto(self, round_: int) -> 'Ledger':
    """The labels bought in rounds <= `round_`."""
    keep = self.rounds <= round_
    return Ledger(self.indices[keep], self.labels[keep], self.rounds[keep],
                  self.weights[keep], min(self.complete, round_),
                  self.ids[keep], self.pool)

  def labeled_mask(self, n: int) -> np.ndarray:
    """[N] bool, True where the label was bought."""
    mask = np.zeros(n, bool)
    mask[self.indices] = True
    return mask

  def save(self, path: str):
    """Writes atomically: a crash leaves the old file or the new one. The
    pool's fingerprint goes with it."""
    fingerprint = json.dumps(self.pool.fingerprint if self.pool else {})
    rundir.atomic_write(path, lambda f: np.savez(
        f, indices=self.indices, labels=self.labels, rounds=self.rounds,
        weights=self.weights, complete=self.complete,
        ids=self.ids.astype(str), fingerprint=fingerprint))

  @classmethod
  def load(cls, path: str, pool: PoolId | None = None) -> 'Ledger':
    """Reads a ledger; files written before weights existed weigh 1 and are
    complete through their last round.

    Args:
      path: the file.
      pool: the pool the run has loaded: it must be the one the ledger was
        written with (`PoolId.check`), and is attached to the ledger.

    Raises:
      ValueError: the pool differs, naming what changed.
    """
    with epath.Path(path).open('rb') as f, np.load(f) as z:
      rounds, indices = z['rounds'], z['indices']
      stored = json.loads(str(z['fingerprint'])) if 'fingerprint' in z else {}
      # IDs are those of the fingerprinted pool, else filled from `pool`.
      ids = z['ids'].astype(str) if stored else None
      if pool is not None:
        pool.check(stored, indices, ids, path)
      return cls(indices, z['labels'], rounds,
                 z['weights'] if 'weights' in z else None,
                 int(z['complete']) if 'complete' in z else
                 (int(rounds.max()) if len(rounds) else -1),
                 ids, pool)

