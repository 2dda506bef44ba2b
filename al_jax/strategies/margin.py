"""Margin (Roth & Small 2006): the unlabeled examples whose top-1 minus top-2
probability is smallest, as paper 000 section 3.1 defines its baseline. In
multi-label mode each image-class pair is scored by its binary margin
(section 3.2)."""

import jax
import numpy as np

from al_jax import sharding
from al_jax.scores import uncertainty
from al_jax.strategies import base
from al_jax.strategies import pairs as pairs_lib


def pool_margins(ctx: base.Context) -> np.ndarray:
  """[N] margin of every pool item ([P] pairs in multi-label mode)."""
  logits = ctx.logits()
  if ctx.pairs is not None:
    return pairs_lib.pair_margins(logits, ctx.pairs)
  return np.asarray(uncertainty.margin(
      sharding.shard_rows(logits, ctx.mesh)))[:len(logits)]


def lowest(scores: np.ndarray, excluded: np.ndarray, k: int) -> np.ndarray:
  """[k] indices of the smallest `scores` outside `excluded`, ascending.

  Ties go to the lower index (stable sort), so the result does not depend on
  the device count that computed the scores.
  """
  scores = np.where(excluded, np.inf, scores)
  return np.argsort(scores, kind='stable')[:k].astype(np.int64)


def lowest_margin(ctx: base.Context, k: int) -> np.ndarray:
  """[k] unlabeled pool indices with the smallest margins, ascending."""
  return lowest(pool_margins(ctx), ctx.labeled_mask, k)


def make(cfg) -> base.Strategy:
  del cfg

  def select(state, ctx: base.Context, budget: int, key: jax.Array):
    del key
    return base.Selection(lowest_margin(ctx, budget)), state

  return base.Strategy(base.no_state, select)
