"""What the active-learning loop buys labels of, and how it buys them.

Dimensions: N examples, P annotated pairs (multi-label), C classes.
"""

from typing import NamedTuple

import jax
import numpy as np

from al_jax import strategies
from al_jax.evaluators import accuracy
from al_jax.evaluators import average_precision
from al_jax.input import ledger as ledger_lib
from al_jax.input import sources
from al_jax.input import sparse_labels
from al_jax.input.pairs import PairPool
from al_jax.strategies import base

METRIC = 'test_accuracy'
AP_METRIC = 'test_pooled_ap'


class Pool(NamedTuple):
  """What the loop buys labels of.

  Multi-class data: the pool items are the N training examples. Multi-label
  data (paper 000 section 3.2): the items are the P annotated image-class
  pairs, each with a binary label, and the metric is pooled AP.

  Attributes:
    hidden: [N] (or [P]) labels the oracle sells.
    pairs: None, or the `PairPool` of multi-label data.
    metric: name of the test metric in metrics.jsonl.
  """
  hidden: np.ndarray
  pairs: PairPool | None
  metric: str

  @classmethod
  def of(cls, ds: sources.Dataset) -> 'Pool':
    if not ds.multilabel:
      return cls(ds.y_train, None, METRIC)
    y = sparse_labels.as_sparse(ds.y_train)
    return cls(y.value, PairPool.from_labels(y), AP_METRIC)

  @property
  def size(self) -> int:
    return len(self.hidden)

  def training_labels(self, ds: sources.Dataset, bought: ledger_lib.Ledger):
    """(y, idx, w): [N] labels known so far, -1 where unknown (multi-label:
    `SparseLabels` of the bought pairs), the [M] examples that carry at
    least one known label and their [M] training weights (None when all are
    1; pairs are never weighted, see `Purchases.close`)."""
    if self.pairs is None:
      known = np.full(ds.y_train.shape, -1, ds.y_train.dtype)
      weighted = bool(np.any(bought.weights != 1))
      known[bought.indices] = bought.labels
      return known, bought.indices, bought.weights if weighted else None
    images = self.pairs.image[bought.indices]
    known = sparse_labels.SparseLabels.from_pairs(
        images, self.pairs.cls[bought.indices], bought.labels,
        self.pairs.num_images, ds.num_classes)
    return known, np.unique(images), None

  def evaluate(self, predict, x: np.ndarray, y) -> float | None:
    """The test metric of the model behind `predict(x, pairs=None) ->
    (logits, embeddings)` (`train.predict`) over the test labels that are
    known; None when none is (a pool without labels: the run still buys and
    trains). Multi-label: pooled AP over the known test pairs, whose logits
    are gathered on the devices (the host never holds [M, C] logits)."""
    if self.pairs is None:
      return accuracy.known_accuracy(predict(x)[0], y)
    y = sparse_labels.as_sparse(y)
    known = y.value >= 0
    if not known.any():
      return None
    test_pairs = PairPool(y.image[known], y.cls[known].astype(np.int64),
                          len(y))
    return average_precision.average_precision(
        predict(x, pairs=test_pairs)[0], y.value[known] == 1)


class Purchases:
  """The labels of one round, saved to the ledger as they are bought: by
  `query` in the middle of a selection (so a crash keeps them; a rerun
  reuses them without buying again), then the selection's own (`close`)."""

  def __init__(self, pool: Pool, ledger: ledger_lib.Ledger, path: str,
               round_: int, oracle):
    self.pool, self.ledger, self.path, self.round = pool, ledger, path, round_
    self.oracle = oracle

  def query(self, idx: np.ndarray) -> np.ndarray:
    new = idx[self.ledger.position(idx) < 0]
    if len(new):
      self.ledger = self.ledger.add(
          self.round, new, self.oracle.reveal(new, self.round),
          complete=False)
      self.ledger.save(self.path)
    return self.ledger.labels[self.ledger.position(idx)]

  def context(self, bought: ledger_lib.Ledger, state, ds, predict,
              mesh, weight_decay: float = 0., candidate_pool: int = 0,
              key: jax.Array | None = None) -> base.Context:
    """What the selection of round `self.round - 1` may see: with
    `candidate_pool` > 0, only that many unlabelled items drawn with `key`
    (paper 004's "unlabelled pool size": a fresh random candidate set each
    round, wave2.md 3.9 pitfall 6); else every unlabelled item."""
    pool = self.pool
    labeled = bought.labeled_mask(pool.size)
    labels = np.full(pool.size, -1, pool.hidden.dtype)
    labels[bought.indices] = bought.labels
    candidates = ~labeled
    if 0 < candidate_pool < candidates.sum():
      drawn = np.asarray(jax.random.choice(
          key, np.flatnonzero(candidates), (candidate_pool,), replace=False))
      candidates = np.zeros(pool.size, bool)
      candidates[drawn] = True
    return strategies.Context(
        candidates, chosen=labeled, labels=labels,
        num_classes=ds.num_classes,
        outputs=lambda: predict(state, ds.x_train, pairs=pool.pairs),
        pool_pass=None if pool.pairs is not None else
        lambda fn: predict(state, ds.x_train, reduce=fn),
        model=lambda: base.Model(state.apply_fn, {
            'params': state.params, 'batch_stats': state.batch_stats},
            inputs=lambda idx: ds.x_train[idx], weight_decay=weight_decay),
        validation=None if ds.x_val is None
        else lambda: (ds.x_val, ds.y_val),
        query=self.query, mesh=mesh, round_=self.round - 1, pairs=pool.pairs)

  def close(self, selection: base.Selection) -> ledger_lib.Ledger:
    """Buys the selection's labels not bought yet, sets its weights, marks
    the round complete and saves the ledger.

    Raises:
      ValueError: weights on a multi-label pool (a weight would be per pair,
        training is per image), before anything is bought.
    """
    if selection.weights is not None and self.pool.pairs is not None:
      raise ValueError('Weighted selections are not supported on multi-label '
                       'pools (a weight would be per pair, training is per '
                       'image).')
    idx = np.asarray(selection.indices, np.int64)
    fresh = self.ledger.position(idx) < 0
    new = idx[fresh]
    scores = (None if selection.scores is None
              else np.asarray(selection.scores)[fresh])
    ledger = self.ledger.add(self.round, new,
                             self.oracle.reveal(new, self.round, scores))
    if selection.weights is not None:
      ledger = ledger.with_weights(idx, selection.weights)
    ledger.save(self.path)
    return ledger
