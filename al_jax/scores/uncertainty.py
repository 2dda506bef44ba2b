"""Uncertainty scores from logits. Lower margin = less confident.

Dimensions: N pool, C classes.
"""

import jax
import jax.numpy as jnp


@jax.jit
def margin(logits: jax.Array) -> jax.Array:
  """Top-1 minus top-2 softmax probability.

  Args:
    logits: [N, C] multi-class logits.

  Returns:
    [N] margins in [0, 1].
  """
  top2 = jax.lax.top_k(jax.nn.softmax(logits.astype(jnp.float32)), 2)[0]
  return top2[:, 0] - top2[:, 1]


@jax.jit
def binary_margin(logits: jax.Array) -> jax.Array:
  """Per-class margin of independent sigmoid outputs (multi-label pairs).

  For a binary problem top-1 minus top-2 probability is |p - (1 - p)|, as
  paper 000 section 3.2 scores each image-class pair.

  Args:
    logits: [N, C] per-class logits.

  Returns:
    [N, C] margins in [0, 1].
  """
  return jnp.abs(2.0 * jax.nn.sigmoid(logits.astype(jnp.float32)) - 1.0)


@jax.jit
def entropy(logits: jax.Array) -> jax.Array:
  """Predictive entropy in nats. logits: [N, C] -> [N]."""
  logp = jax.nn.log_softmax(logits.astype(jnp.float32))
  return -jnp.sum(jnp.exp(logp) * logp, axis=-1)


@jax.jit
def negative_entropy(logits: jax.Array) -> jax.Array:
  """[N] -entropy (one function object: `train.predict` compiles a reduce
  once per function)."""
  return -entropy(logits)


@jax.jit
def max_probability(logits: jax.Array) -> jax.Array:
  """Top-1 softmax probability (least confidence ranks it ascending).
  logits: [N, C] -> [N]."""
  return jnp.max(jax.nn.softmax(logits.astype(jnp.float32)), axis=-1)
