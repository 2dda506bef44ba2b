"""Selection strategies, looked up by name."""

import ml_collections

from al_jax.strategies import badge
from al_jax.strategies import cluster_margin
from al_jax.strategies import coreset
from al_jax.strategies import margin
from al_jax.strategies import pairs
from al_jax.strategies import random
from al_jax.strategies.base import Context, Selection, Strategy

STRATEGIES = {
    'badge': badge.make,
    'cluster_margin': cluster_margin.make,
    'coreset': coreset.make,
    'margin': margin.make,
    'random': random.make,
}


def get(name: str, al_cfg=None) -> Strategy:
  """The strategy registered as `name`.

  Args:
    name: a key of `STRATEGIES`.
    al_cfg: ``config.al``; the strategy reads its options from the section
      named after it, e.g. ``config.al.margin``, if present.
  """
  if name not in STRATEGIES:
    raise ValueError(f'Unknown strategy {name!r}; valid: '
                     f'{", ".join(sorted(STRATEGIES))}.')
  options = al_cfg.get(name) if al_cfg is not None else None
  return STRATEGIES[name](options if options is not None
                          else ml_collections.ConfigDict())
