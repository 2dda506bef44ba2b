"""`al_jax.select`: any registered strategy on plain arrays, one call.

For notebooks and other frameworks: a PyTorch user passes numpy outputs of
their own model. The strategy, its option checks and its kernels are the
ones the jobs run.

  sel = al_jax.select('badge', 100, key=jax.random.key(0), logits=logits,
                      embeddings=emb, labeled=labeled_mask)
  sel.indices, sel.weights

Dimensions: N pool, C classes, D embedding, K budget.
"""

from typing import Callable, Mapping

import jax
import numpy as np

from al_jax import sharding
from al_jax import strategies
from al_jax.strategies import base

# The argument of `select` that serves each need.
ARGUMENT = {base.LOGITS: 'logits', base.EMBEDDINGS: 'embeddings',
            base.LABELS: 'labels (for every candidate)',
            base.DYNAMICS: 'scores', base.MODEL: 'apply_fn and params',
            base.QUERY: 'query', base.VALIDATION: 'validation'}


def select(name: str, budget: int, *, key: jax.Array, logits=None,
           embeddings=None, labeled=None, labels=None, candidates=None,
           scores: Mapping[str, np.ndarray] | None = None,
           query: Callable[[np.ndarray], np.ndarray] | None = None,
           apply_fn: Callable | None = None, params=None, inputs=None,
           weight_decay: float = 0., validation=None,
           mesh: jax.sharding.Mesh | None = None,
           **options) -> base.Selection:
  """Runs strategy `name` once over a pool given as arrays.

  Args:
    name: a registered strategy (`al_jax.strategies.names()`).
    budget: K, the labels (draws) to select.
    key: PRNG key.
    logits: [N, C] model logits.
    embeddings: [N, D] penultimate embeddings.
    labeled: [N] bool, items already labeled (k-center starts from them);
      default none.
    labels: [N] int labels where known, -1 elsewhere (one-shot methods such
      as BOSS or CRAIG need every candidate's).
    candidates: [N] bool, items that may be picked; default ~labeled.
    scores: {name: [N]} training-dynamics scores (e.g. 'el2n', 'aum').
    query: indices [Q] -> labels [Q], for methods that buy labels while
      they select; they count in the budget.
    apply_fn, params: the model (Flax ``apply`` and its variables), for
      gradient and influence methods.
    inputs: [N, ...] the pool's raw inputs (what apply_fn takes), for
      methods that differentiate the model at items.
    weight_decay: the L2 coefficient of the objective params minimise
      (influence methods: mean loss + (wd/2)‖θ‖²).
    validation: (inputs [V, ...], labels [V]) a labelled validation set
      (influence methods).
    mesh: device mesh; default all devices.
    **options: the strategy's options (`al_jax.strategies.defaults(name)`).

  Returns:
    `Selection(indices [K'] int64, weights [K'] float32 or None, notes)`,
    repeats merged (K' <= K).

  Raises:
    ValueError: unknown strategy or option, or an argument the strategy
      needs is missing (named).
  """
  strategy = strategies.get(name, None, 'select', **options)
  given = [a for a in (logits, embeddings, labeled, labels, candidates)
           if a is not None]
  if not given:
    raise ValueError('select() needs the pool: pass logits, embeddings, '
                     'labeled, labels or candidates.')
  n = len(given[0])
  labeled = np.zeros(n, bool) if labeled is None else np.asarray(labeled,
                                                                 bool)
  candidates = (~labeled if candidates is None
                else np.asarray(candidates, bool))
  ctx = base.Context(
      candidates, chosen=labeled, labels=labels,
      num_classes=0 if logits is None else np.shape(logits)[1],
      outputs=(None if logits is None and embeddings is None
               else lambda: (logits, embeddings)),
      scores=scores,
      model=(None if apply_fn is None or params is None
             else lambda: base.Model(
                 apply_fn, params,
                 None if inputs is None else lambda idx: inputs[idx],
                 weight_decay)),
      query=query, mesh=mesh or sharding.make_mesh(),
      validation=None if validation is None else lambda: validation)
  for array, what in ((logits, 'logits'), (embeddings, 'embeddings')):
    if array is not None and len(array) != n:
      raise ValueError(f'{what} has {len(array)} rows; the pool has {n}.')
  method = strategies.method_of(name, options)
  missing = [ARGUMENT[need] for need in strategies.needs(
      method, **{k: v for k, v in options.items() if k != 'method'})
             if need in ARGUMENT and not _given(need, ctx, logits, embeddings)]
  if missing:
    raise ValueError(f'{method} needs ' + ', '.join(missing) +
                     ', not given to select().')
  if not 0 <= budget <= int(candidates.sum()):
    raise ValueError(f'budget={budget} must be in [0, {int(candidates.sum())}]'
                     ' (the candidates).')
  sel, _ = strategy.select(strategy.init(ctx), ctx, budget, key)
  return base.check_selection(sel, ctx, budget, name)


def _given(need: str, ctx: base.Context, logits, embeddings) -> bool:
  if need == base.LOGITS:
    return logits is not None
  if need == base.EMBEDDINGS:
    return embeddings is not None
  return ctx.provides(need)
