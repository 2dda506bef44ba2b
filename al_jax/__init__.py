"""al_jax: choosing which data to label or train on, in JAX.

`al_jax.select(name, budget, key=..., logits=..., ...)` runs any registered
strategy on plain arrays; `al_jax.strategies` is the registry.
"""

from al_jax.selection import select

__all__ = ['select']
