"""Selection strategies, looked up by name."""

from al_jax.strategies import margin
from al_jax.strategies import random
from al_jax.strategies.base import Context, Selection, Strategy

STRATEGIES = {
    'random': random.make,
    'margin': margin.make,
}


def get(name: str, cfg) -> Strategy:
  """The strategy registered as `name`, configured from ``config.al``."""
  if name not in STRATEGIES:
    raise ValueError(f'Unknown strategy {name!r}; valid: '
                     f'{", ".join(sorted(STRATEGIES))}.')
  return STRATEGIES[name](cfg)
