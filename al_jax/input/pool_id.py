"""Stable IDs of the items a run buys labels of, and the pool's fingerprint.

Ledger indices are positions in the pool after the seeded split and
subsample; people, annotation tools and later runs know examples by their
IDs. A `PoolId` maps one to the other and fingerprints the pool (source,
version, number of items, a hash of every ID in order), so that a resumed
run can refuse a pool that is not the one its ledger indexes, and say what
changed.

Items are the training examples, or on multi-label pools the (image, class)
pairs, whose ID is '<image ID>/<class>'.

Dimensions: N items.
"""

import dataclasses
import functools
import hashlib

import numpy as np


class OtherPool(ValueError):
  """A ledger indexes another pool than the one loaded."""


@dataclasses.dataclass(frozen=True, eq=False)
class PoolId:
  """ids: [N] str, the items' stable IDs; paths: [N] str file of each item
  ('' where it has none), or None; source, version: where the pool came
  from."""
  ids: np.ndarray
  paths: np.ndarray | None
  source: str
  version: str = ''

  @classmethod
  def of(cls, ds, pairs=None) -> 'PoolId':
    """The pool of `ds` (`sources.Dataset`): its examples, or `pairs`."""
    ids, paths = ds.train_ids, ds.paths_train
    if pairs is not None:
      ids = np.char.add(np.char.add(ids[pairs.image], '/'),
                        pairs.cls.astype(str))
      paths = None if paths is None else paths[pairs.image]
    return cls(ids, paths, ds.name, ds.version)

  @functools.cached_property
  def fingerprint(self) -> dict:
    """Hashes every ID once per pool (each ledger save writes it)."""
    digest = hashlib.sha256('\n'.join(self.ids.tolist()).encode()).hexdigest()
    return {'source': self.source, 'version': self.version,
            'items': len(self.ids), 'ids_sha256': digest}

  def index(self) -> dict:
    """ID -> position."""
    return {v: i for i, v in enumerate(self.ids.tolist())}

  def check(self, stored: dict, indices: np.ndarray, ids: np.ndarray,
            where: str):
    """Raises OtherPool, naming what changed, unless the pool is the one a
    ledger was written with (`stored` fingerprint, the [L] `ids` it bought
    at `indices`). A ledger without a fingerprint (older files) passes."""
    if not stored:
      return
    now = self.fingerprint
    changed = [f'{k}: {stored[k]!r} -> {now[k]!r}' for k in
               ('source', 'version', 'items') if stored.get(k) != now[k]]
    if not changed and stored.get('ids_sha256') != now['ids_sha256']:
      changed.append('the example IDs (same count, other IDs or order)')
    inside = indices < len(self.ids)
    moved = np.flatnonzero(~inside)
    if not len(moved):
      moved = np.flatnonzero(self.ids[indices] != ids)
    if len(moved):
      i = moved[0]
      now_id = (repr(str(self.ids[indices[i]])) if inside[i]
                else '(outside the pool)')
      changed.append(f'{len(moved)} bought items moved, e.g. position '
                     f'{indices[i]} was {str(ids[i])!r}, now {now_id}')
    if changed:
      raise OtherPool(
          f'{where} indexes another pool than the one loaded ('
          + '; '.join(changed) + '). Resuming would attach its labels to '
          'other examples: load the pool it was made with, or use a new '
          '--workdir.')
