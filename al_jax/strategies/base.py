"""The strategy interface, shaped like an optax GradientTransformation.

  strategy = strategies.get('margin')             # options checked here
  state = strategy.init(ctx)                      # once, e.g. HAC on the pool
  selection, state = strategy.select(state, ctx, budget, key)

Every job (active learning, one-shot subsets, label-free selection, trimming)
and `al_jax.select` call strategies this way. A strategy sees only a
`Context`: what the job knows when it runs, never a hidden label.

Dimensions: N pool items, K budget, C classes, D embedding.
"""

import functools
from typing import Any, Callable, Mapping, NamedTuple

import jax
import numpy as np

from al_jax import distributed
from al_jax import sharding
from al_jax.input.pairs import PairPool

# What a strategy may need (declared as NEEDS in its module) and a job may
# provide (declared as PROVIDES in its loop).
LOGITS, EMBEDDINGS = 'logits', 'embeddings'
LABELS = 'labels'  # The label of every candidate (one-shot jobs).
DYNAMICS = 'dynamics'  # Training-dynamics scores (EL2N, AUM, ...).
MODEL = 'model'  # The trained model: apply_fn and variables.
QUERY = 'query'  # Buying labels in the middle of a selection.
CHOSEN = 'chosen'  # Uses the items already chosen (e.g. as k-center centres).
VALIDATION = 'validation'  # A labelled validation set (influence methods).
NEEDS = (LOGITS, EMBEDDINGS, LABELS, DYNAMICS, MODEL, QUERY, CHOSEN,
         VALIDATION)


class Selection(NamedTuple):
  """What a strategy picked.

  Attributes:
    indices: [K] int64 pool indices, in pick order. Strategies that draw
      with replacement may repeat an index; `check_selection` merges repeats.
    weights: optional [K] float32 >= 0, e.g. coreset weights; None = 1 each.
    notes: what the method changed or re-spread, for the metrics row.
    scores: optional [K] float, the strategy's score of each pick (e.g. its
      margin), exported with the questions people answer.
  """
  indices: np.ndarray
  weights: np.ndarray | None = None
  notes: tuple[str, ...] = ()
  scores: np.ndarray | None = None


class Strategy(NamedTuple):
  init: Callable[['Context'], Any]
  select: Callable[[Any, 'Context', int, jax.Array], tuple[Selection, Any]]


def no_state(ctx: 'Context') -> None:
  """`init` for strategies without one-time work."""
  del ctx
  return None


class Model(NamedTuple):
  """The trained model, for gradient and influence methods.

  Attributes:
    apply_fn: ``apply_fn(variables, x, train=False) -> (logits, embedding)``
      on normalised inputs (`preprocess.normalize`).
    variables: {'params': ..., 'batch_stats': ...}.
    inputs: ``inputs(indices) -> [n, ...]`` raw pool inputs of those items,
      or None where the job cannot give them.
    weight_decay: the L2 coefficient of the objective the variables
      minimise, mean loss + (wd/2)‖θ‖² (influence methods differentiate
      that stationary point).
  """
  apply_fn: Callable[..., Any]
  variables: Mapping[str, Any]
  inputs: Callable[[np.ndarray], np.ndarray] | None = None
  weight_decay: float = 0.


class Context:
  """What a strategy may see when it selects.

  Attributes:
    candidates: [N] bool, items that may be picked (active learning: the
      unlabeled pool; one-shot, label-free, trimming: every item).
    chosen: [N] bool, items already chosen (active learning: labeled);
      k-center starts from them.
    labels: [N] labels this job lets a method see, -1 elsewhere (active
      learning: bought; one-shot: all; label-free: none). Multi-label pools:
      [P] pair labels in {0, 1}, -1 where not bought.
    num_classes: C.
    mesh: device mesh for sharded kernels, or None.
    round: the round whose model produced the outputs.
    pairs: None, or the `PairPool` whose annotated pairs are the items
      (paper 000 section 3.2); embeddings are then per image, and `outputs`
      may give the [P] logits of the pairs in place of [N, C] logits
      (`train.predict(..., pairs=)` reduces them on the devices).
    validation: a function returning the labelled validation set, or
      None.
    queried: [Q] int64 items bought through `query` so far.

  A loop that runs the model over its pool gives `pool_pass(fn) ->
  (fn(logits) [N, ...] or None, embeddings [N, D])`, `fn` applied to each
  batch's logits on the devices (`train.predict(reduce=)`): embeddings and
  `logit_scores` then come without [N, C] logits on the host; `logits()`
  still fetches them whole (`outputs`).
  """

  def __init__(self, candidates, *, chosen=None, labels=None,
               num_classes: int = 0,
               outputs: Callable[[], tuple[np.ndarray, np.ndarray]] | None = None,
               scores: Mapping[str, np.ndarray] | None = None,
               model: Callable[[], Model] | None = None,
               query: Callable[[np.ndarray], np.ndarray] | None = None,
               mesh: jax.sharding.Mesh | None = None, round_: int = 0,
               pairs: PairPool | None = None,
               validation: Callable[[], tuple[np.ndarray, np.ndarray]]
               | None = None,
               pool_pass: Callable[[Any], tuple[Any, np.ndarray]]
               | None = None):
    self.candidates = np.asarray(candidates, bool)
    n = len(self.candidates)
    self.chosen = (np.zeros(n, bool) if chosen is None
                   else np.asarray(chosen, bool))
    self.labels = (np.full(n, -1, np.int64) if labels is None
                   else np.asarray(labels))
    if self.chosen.shape != (n,) or len(self.labels) != n:
      raise ValueError(f'candidates, chosen and labels have {n}, '
                       f'{len(self.chosen)} and {len(self.labels)} rows.')
    self.num_classes = num_classes
    self.mesh = mesh
    self.round = round_
    self.pairs = pairs
    self._outputs_fn = (None if outputs is None else
                        lambda: _finite_outputs(outputs(), round_))
    self._outputs = None
    if pool_pass is not None and pairs is not None:
      raise ValueError('A pair pool gives its pairs\' logits through '
                       '`outputs`, not `pool_pass`.')
    self._pool_pass = pool_pass
    self._passes = {}  # fn -> (fn(logits), embeddings) of one pool pass.
    self._scores = dict(scores or {})
    self._model_fn = model
    self._query_fn = query
    self._validation_fn = validation
    self.queried = np.zeros(0, np.int64)

  @property
  def pool_size(self) -> int:
    return len(self.candidates)

  @property
  def candidate_indices(self) -> np.ndarray:
    """[U] int64, ascending."""
    return np.flatnonzero(self.candidates)

  def provides(self, need: str) -> bool:
    """Whether this context can serve `need` (one of `NEEDS`)."""
    if need == LOGITS:
      return self._outputs_fn is not None
    if need == EMBEDDINGS:
      return self._outputs_fn is not None or self._pool_pass is not None
    if need == LABELS:
      return bool(np.all(self.labels[self.candidates] >= 0))
    if need == DYNAMICS:
      return bool(self._scores)
    if need == MODEL:
      return self._model_fn is not None
    if need == QUERY:
      return self._query_fn is not None
    if need == VALIDATION:
      return self._validation_fn is not None
    return need == CHOSEN

  def _model_outputs(self) -> tuple[np.ndarray, np.ndarray]:
    if self._outputs is None:
      if self._outputs_fn is None:
        raise ValueError('This selection needs model outputs (logits or '
                         'embeddings), and none were given.')
      self._outputs = self._outputs_fn()
    return self._outputs
  def _output(self, i: int, what: str) -> np.ndarray:
    value = self._model_outputs()[i]
    if value is None:
      raise ValueError(f'This selection needs {what}, and none were given.')
    return value

  def logits(self) -> np.ndarray:
    """[N, C] float32 logits of the current model; on a pair pool only
    where the context was given them per image (a loop's pool pass gives
    the pairs' logits: `pair_logits`)."""
    logits = self._output(0, 'logits')
    if self.pairs is not None and np.ndim(logits) == 1:
      raise ValueError('This multi-label pool has the logits of its pairs '
                       'only (pair_logits()), not [N, C].')
    return logits

  def pair_logits(self) -> np.ndarray:
    """[P] float32 logits of the pool's pairs (multi-label pools)."""
    if self.pairs is None:
      raise ValueError('pair_logits() of a pool without pairs.')
    logits = self._output(0, 'logits')
    if np.ndim(logits) == 1:
      return logits
    return np.asarray(logits)[self.pairs.image, self.pairs.cls]

  def embeddings(self) -> np.ndarray:
    """[N, D] float32 penultimate-layer embeddings (per image for pairs)."""
    if self._outputs is None and self._pool_pass is not None:
      # Any pass brought them; else one without logits.
      return self._reduced(next(iter(self._passes), None))[1]
    return self._output(1, 'embeddings')

  def logit_scores(self, fn) -> np.ndarray:
    """[N] fn(logits) of every item, fn a jittable row-wise function (a
    margin, an entropy; pass one function object, not a new lambda each
    time: each compiles the pool pass): computed on the devices in a pool
    pass where the context can run one and has not fetched the logits
    itself, so the host never holds [N, C]; else over the fetched logits,
    sharded over the mesh."""
    if self._outputs is None and self._pool_pass is not None:
      return self._reduced(fn)[0]
    logits = self.logits()
    if self.mesh is None:
      return np.asarray(fn(logits))
    return distributed.to_host(
        fn(sharding.shard_rows(logits, self.mesh)))[:len(logits)]

  def _reduced(self, fn):
    """(fn(logits) or None, embeddings) of one pool pass, cached per fn;
    the embeddings of the first pass are kept (every pass has the same)."""
    if fn not in self._passes:
      scores, emb = _finite_outputs(self._pool_pass(fn), self.round)
      if self._passes:
        emb = next(iter(self._passes.values()))[1]
      self._passes[fn] = scores, emb
    return self._passes[fn]

  def has_score(self, name: str) -> bool:
    return name in self._scores

  def scores(self, name: str) -> np.ndarray:
    """[N] per-item score `name` (training dynamics, or one a combinator
    attached with `with_scores`; attached functions are called once)."""
    if name not in self._scores:
      valid = ', '.join(sorted(self._scores)) or 'none were recorded'
      raise ValueError(f'Unknown score {name!r}; valid: {valid}.')
    if callable(self._scores[name]):
      self._scores[name] = np.asarray(self._scores[name]())
    return self._scores[name]

  def model(self) -> Model:
    if self._model_fn is None:
      raise ValueError('This selection needs the trained model (apply_fn and '
                       'params), and none was given.')
    return self._model_fn()

  def validation(self) -> tuple[np.ndarray, np.ndarray]:
    """(inputs [V, ...], labels [V]) of the job's validation set."""
    if self._validation_fn is None:
      raise ValueError('This selection needs a labelled validation set, and '
                       'none was given.')
    return self._validation_fn()

  def query(self, indices) -> np.ndarray:
    """Buys the labels of `indices` now; they count in the round's budget
    and must be part of the selection returned.

    Returns:
      [Q] labels (multi-label pools: pair labels).
    """
    if self._query_fn is None:
      raise ValueError('This job cannot buy labels during a selection.')
    idx = np.asarray(indices, np.int64).reshape(-1)
    if idx.size and (idx.min() < 0 or idx.max() >= self.pool_size):
      raise ValueError('query() asked for items outside the pool.')
    new = np.unique(idx[~np.isin(idx, self.queried)])
    if (~self.candidates[new]).any():
      raise ValueError('query() asked for items that are not candidates: '
                       f'{new[~self.candidates[new]][:5].tolist()}.')
    if new.size:
      labels = np.asarray(self._query_fn(new))
      if labels.shape[:1] != new.shape:
        raise ValueError(f'query returned {labels.shape[:1]} labels for '
                         f'{len(new)} items.')
      self.labels = self.labels.copy()
      self.labels[new] = labels
      self.queried = np.union1d(self.queried, new)
    return self.labels[idx]

  def _derive(self, rows=None, **changes) -> 'Context':
    """A context over `rows` of this one (all rows when None)."""
    take = ((lambda a: a) if rows is None else
            (lambda a: None if a is None else np.asarray(a)[rows]))
    out = object.__new__(Context)
    out.__dict__.update(self.__dict__)
    out.candidates = take(self.candidates)
    out.chosen = take(self.chosen)
    out.labels = take(self.labels)
    out._scores = dict(self._scores) if rows is None else {
        k: functools.partial(lambda k: take(self.scores(k)), k)
        for k in self._scores}
    if rows is not None and self.pairs is not None:
      # Items are pairs; model outputs stay per image.
      out.pairs = PairPool(self.pairs.image[rows], self.pairs.cls[rows],
                           self.pairs.num_images)
    if self._pool_pass is not None and rows is not None:
      # The parent's scores and embeddings, sliced: from its fetched
      # outputs where it has them, else from its (cached) pool passes.
      out._passes = {}
      out._pool_pass = lambda fn: (
          None if fn is None else self.logit_scores(fn)[rows],
          self.embeddings()[rows])
    if self._outputs_fn is not None:  # Computed once, by the root context.
      out._outputs = None if rows is not None else self._outputs
      out._outputs_fn = (self._model_outputs if rows is None else
                         lambda: _outputs_of(self._model_outputs(), take,
                                             self.pairs))
    if self._query_fn is not None:  # Purchases go through the parent.
      out._query_fn = (self.query if rows is None else
                       lambda idx: self.query(np.asarray(rows)[idx]))
    if rows is not None:
      out.queried = np.flatnonzero(np.isin(rows, self.queried))
    out.__dict__.update(changes)
    return out

  def restrict(self, rows) -> 'Context':
    """A view over pool items `rows` ([M] int, in the order given): every
    array, output and score is sliced; indices in the view are positions in
    `rows`, and `query` on the view buys the underlying items."""
    return self._derive(np.asarray(rows, np.int64))

  def replace(self, **changes) -> 'Context':
    """The same pool with some attributes replaced (e.g. candidates=)."""
    if 'candidates' in changes:
      changes['candidates'] = np.asarray(changes['candidates'], bool)
    return self._derive(None, **changes)

  def fork(self) -> 'Context':
    """An independent copy with no purchases recorded, whose queries do not
    reach this context (e.g. one per selection of a one-shot job)."""
    return self._derive(None, _query_fn=self._query_fn,
                        queried=np.zeros(0, np.int64))

  def with_scores(self, **scores) -> 'Context':
    """The same pool with extra [N] scores (e.g. image-level margins)."""
    return self._derive(None, _scores={**self._scores, **scores})


def _outputs_of(outputs, take, pairs):
  """(logits, embeddings) of a view's rows: both sliced; on a pair pool,
  only [P] pair logits (image outputs stay whole)."""
  logits, emb = outputs
  if pairs is None:
    return take(logits), take(emb)
  return (take(logits) if np.ndim(logits) == 1 else logits), emb


def _finite_outputs(outputs, round_: int):
  """`outputs` (logits, embeddings; either may be None), checked finite."""
  for what, value in zip(('logits', 'embeddings'), outputs):
    if value is None:
      continue
    bad = ~np.isfinite(np.asarray(value)).reshape(len(value), -1).all(1)
    if bad.any():
      raise ValueError(
          f'The round-{round_} model gives non-finite {what} on {bad.sum()} '
          f'pool examples (e.g. rows {np.flatnonzero(bad)[:5].tolist()}): '
          'training diverged? Lower train.learning_rate; bought labels are '
          'kept, and a rerun resumes from them.')
  return outputs


def merge_duplicates(selection: Selection) -> Selection:
  """Repeated indices merged into their first occurrence, weights summed
  (weights default to 1 per draw). A selection without repeats is returned
  unchanged."""
  idx = np.asarray(selection.indices, np.int64)
  first, inverse = np.unique(idx, return_index=True, return_inverse=True)[1:]
  if len(first) == len(idx):
    return selection._replace(indices=idx)
  w = (np.ones(len(idx), np.float64) if selection.weights is None
       else np.asarray(selection.weights, np.float64))
  summed = np.bincount(inverse.reshape(-1), weights=w)
  order = np.argsort(first, kind='stable')
  scores = (None if selection.scores is None else
            np.asarray(selection.scores)[first[order]])
  return Selection(idx[first[order]], summed[order].astype(np.float32),
                   selection.notes, scores)


def check_selection(selection: Selection, ctx: Context, budget: int,
                    name: str) -> Selection:
  """Validates what a strategy returned; returns it with repeats merged.

  The budget counts draws: entries of `indices` (repeats included) plus
  items bought with `ctx.query` that the selection does not list. Every
  queried item must be listed or counted; picks must be candidates.

  Raises:
    RuntimeError: naming each problem.
  """
  idx = np.asarray(selection.indices)
  problems = []
  if idx.ndim != 1 or (idx.size and not np.issubdtype(idx.dtype, np.integer)):
    raise RuntimeError(f'Strategy {name!r} returned indices of shape '
                       f'{idx.shape} and dtype {idx.dtype}, want [K] int.')
  extra = np.setdiff1d(ctx.queried, idx)
  if len(idx) + len(extra) != budget:
    problems.append(f'{len(idx)} indices' + (
        f' and {len(extra)} other queried items' if len(extra) else '') +
                    f' for a budget of {budget}')
  if idx.size and (idx.min() < 0 or idx.max() >= ctx.pool_size):
    problems.append('indices outside the pool')
  elif idx.size:
    bad = ~ctx.candidates[idx] & ~np.isin(idx, ctx.queried)
    if bad.any():
      problems.append(f'{bad.sum()} indices that are not candidates (e.g. '
                      'already labeled)')
  w = selection.weights
  if w is not None and (np.shape(w) != idx.shape or
                        not np.all(np.isfinite(w)) or np.any(np.less(w, 0))):
    problems.append(f'invalid weights (need {len(idx)} finite values >= 0)')
  if problems:
    raise RuntimeError(f'Strategy {name!r} returned ' + ', '.join(problems))
  return merge_duplicates(selection)
