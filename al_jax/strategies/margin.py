"""Margin (Roth & Small 2006): the unlabeled examples whose top-1 minus top-2
probability is smallest, as paper 000 section 3.1 defines its baseline."""

import jax
import numpy as np

from al_jax import sharding
from al_jax.scores import uncertainty
from al_jax.strategies import base


def lowest_margin(ctx: base.Context, k: int) -> np.ndarray:
  """[k] unlabeled pool indices with the smallest margins, ascending.

  Scores are computed on the pool sharded over the mesh; ties are broken by
  the lower pool index (stable sort), so the result does not depend on the
  device count.
  """
  logits = ctx.logits()
  scores = np.asarray(uncertainty.margin(
      sharding.shard_rows(logits, ctx.mesh)))[:len(logits)]
  scores = np.where(ctx.labeled_mask, np.inf, scores)
  return np.argsort(scores, kind='stable')[:k].astype(np.int64)


def make(cfg) -> base.Strategy:
  del cfg

  def select(state, ctx: base.Context, budget: int, key: jax.Array):
    del key
    return base.Selection(lowest_margin(ctx, budget)), state

  return base.Strategy(base.no_state, select)
