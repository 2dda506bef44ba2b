"""Margin (Roth & Small 2006): the candidates whose top-1 minus top-2
probability is smallest, as paper 000 section 3.1 defines its baseline. In
multi-label mode each image-class pair is scored by its binary margin
|p − (1 − p)| (section 3.2)."""

import jax
import numpy as np

from al_jax.scores import uncertainty
from al_jax.strategies import base

OPTIONS = {}
NEEDS = (base.LOGITS,)
PAIRS = 'native'


def pool_margins(ctx: base.Context) -> np.ndarray:
  """[N] margin of every pool item ([P] pairs in multi-label mode).

  A context may carry its own 'margin' score: `combinators.on_pairs` gives
  each image the smallest margin among its unlabeled pairs.
  """
  if ctx.has_score('margin'):
    return ctx.scores('margin')
  if ctx.pairs is not None:  # [P] binary margins |p − (1 − p)|.
    return np.asarray(uncertainty.binary_margin(ctx.pair_logits()))
  return logit_score(uncertainty.margin)(ctx)


def lowest(scores: np.ndarray, excluded: np.ndarray, k: int) -> np.ndarray:
  """[k] indices of the smallest `scores` outside `excluded`, ascending.

  Ties go to the lower index (stable sort), so the result does not depend on
  the device count that computed the scores.
  """
  scores = np.where(excluded, np.inf, scores)
  return np.argsort(scores, kind='stable')[:k].astype(np.int64)


def lowest_of(score_fn) -> base.Strategy:
  """The strategy picking the candidates of lowest `score_fn(ctx)` ([N])."""

  def select(state, ctx: base.Context, budget: int, key: jax.Array):
    del key
    scores = np.asarray(score_fn(ctx))
    picks = lowest(scores, ~ctx.candidates, budget)
    return base.Selection(picks, scores=scores[picks]), state

  return base.Strategy(base.no_state, select)


def logit_score(fn):
  """[N] `fn(logits)` of the context's model (`Context.logit_scores`)."""
  return lambda ctx: ctx.logit_scores(fn)


def make() -> base.Strategy:
  return lowest_of(pool_margins)
