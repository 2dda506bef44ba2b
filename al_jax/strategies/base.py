"""The strategy interface, shaped like an optax GradientTransformation.

  strategy = strategies.get('margin', config.al)
  state = strategy.init(ctx)                      # once, on the first model
  selection, state = strategy.select(state, ctx, budget, key)

A strategy sees only a `Context`: what is known when it runs. It never sees a
hidden label.

Dimensions: N pool, K budget, C classes, D embedding.
"""

from typing import Any, Callable, NamedTuple

import jax
import numpy as np

from al_jax.strategies.pairs import PairPool


class Selection(NamedTuple):
  """indices: [K] int64 pool indices; weights: optional [K] float32."""
  indices: np.ndarray
  weights: np.ndarray | None = None


class Strategy(NamedTuple):
  init: Callable[['Context'], Any]
  select: Callable[[Any, 'Context', int, jax.Array], tuple[Selection, Any]]


def no_state(ctx: 'Context') -> None:
  """`init` for strategies without one-time work."""
  del ctx
  return None


class Context:
  """What is known at selection time; model outputs are computed lazily once.

  Attributes:
    labeled_mask: [N] bool, labels bought so far (multi-label: [P], pairs).
    labels: [N] int32 known labels, -1 where not bought (multi-label: [P]
      int8 pair labels in {0, 1}, -1 where not bought).
    num_classes: C.
    mesh: device mesh for sharded scoring.
    round: the active-learning round whose model produced the outputs.
    pairs: None for a multi-class pool of examples; in multi-label mode the
      `pairs.PairPool` whose pairs are the pool items. Model outputs are per
      image either way.
  """

  def __init__(self, labeled_mask: np.ndarray, labels: np.ndarray,
               num_classes: int, outputs_fn: Callable[[], tuple[np.ndarray,
                                                                np.ndarray]],
               mesh: jax.sharding.Mesh, round_: int = 0,
               pairs: PairPool | None = None):
    self.labeled_mask = labeled_mask
    self.labels = labels
    self.num_classes = num_classes
    self.mesh = mesh
    self.round = round_
    self.pairs = pairs
    self._outputs_fn = outputs_fn
    self._outputs = None

  @property
  def pool_size(self) -> int:
    return len(self.labeled_mask)

  @property
  def unlabeled_indices(self) -> np.ndarray:
    """[U] int64, ascending."""
    return np.flatnonzero(~self.labeled_mask)

  def _model_outputs(self) -> tuple[np.ndarray, np.ndarray]:
    if self._outputs is None:
      outputs = self._outputs_fn()
      for what, value in zip(('logits', 'embeddings'), outputs):
        bad = ~np.isfinite(np.asarray(value)).reshape(len(value), -1).all(1)
        if bad.any():
          raise ValueError(
              f'The round-{self.round} model gives non-finite {what} on '
              f'{bad.sum()} pool examples (e.g. rows '
              f'{np.flatnonzero(bad)[:5].tolist()}): training diverged? '
              'Lower train.learning_rate; bought labels are kept, and a rerun '
              'resumes from them.')
      self._outputs = outputs
    return self._outputs

  def logits(self) -> np.ndarray:
    """[N, C] float32 logits of the current model over the pool (images)."""
    return self._model_outputs()[0]

  def embeddings(self) -> np.ndarray:
    """[N, D] float32 penultimate-layer embeddings over the pool (images)."""
    return self._model_outputs()[1]


def check_selection(selection: Selection, ctx: Context, budget: int,
                    name: str):
  """Raises if a strategy returned a malformed selection."""
  idx = np.asarray(selection.indices)
  problems = []
  if idx.shape != (budget,):
    problems.append(f'{idx.shape[0] if idx.ndim else 0} indices for a budget '
                    f'of {budget}')
  if len(np.unique(idx)) != len(idx):
    problems.append('duplicate indices')
  if idx.size and (idx.min() < 0 or idx.max() >= ctx.pool_size):
    problems.append('indices outside the pool')
  elif idx.size and ctx.labeled_mask[idx].any():
    problems.append('already labeled indices')
  if problems:
    raise RuntimeError(f'Strategy {name!r} returned ' + ', '.join(problems))
