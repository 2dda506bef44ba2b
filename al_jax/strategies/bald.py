"""BALD (Houlsby et al. 2011), paper 004's active-learning baseline: query the
candidates of largest mutual information between the prediction and the
parameters, I = H[E_t p_t] − E_t H[p_t], over T posterior samples
(wave2.md 3.6; the paper cites BatchBALD without details: top-b of the
per-item score, no batch correction).

`posterior`:
  'mc_dropout'  T stochastic forward passes with dropout on (Gal et al.
                2017), only for these passes (the model trains and predicts
                with its own setting). A model without dropout gives equal
                passes: refused, naming 'laplace'.
  'laplace'     for models without dropout, e.g. logistic regression (our
                choice; the paper does not say): the last layer's θ_t ~
                N(θ̂, (n·H)⁻¹), H the Hessian of the labelled set's mean loss
                + weight decay (`influence.curvature`, damped if singular),
                on the embedding; float64.

Dimensions: U candidates, T samples, K classes.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import scipy.linalg

from al_jax import train
from al_jax.influence import curvature as curvature_lib
from al_jax.strategies import base
from al_jax.strategies import fi_active
from al_jax.strategies import fi_util

OPTIONS = dict(samples=20, posterior='mc_dropout')
NEEDS = (base.MODEL, base.CHOSEN)
POSTERIORS = ('mc_dropout', 'laplace')


def mutual_information(probs) -> np.ndarray:
  """[U] I = H[mean_t p] − mean_t H[p] of probs [T, U, K]."""
  probs = np.asarray(probs, np.float64)
  entropy = lambda p: -np.sum(p * np.log(np.clip(p, 1e-30, None)), -1)
  return entropy(probs.mean(0)) - entropy(probs).mean(0)


@functools.partial(jax.jit, static_argnames=('apply_fn', 'samples'))
def _dropout_probs(apply_fn, variables, x, key, samples):
  def one(k):
    logits = apply_fn(variables, x, train=False, dropout=True,
                      rngs={'dropout': k})[0]
    return jax.nn.softmax(logits.astype(jnp.float32))
  return jax.vmap(one)(jax.random.split(key, samples))         # [T, B, K]


def dropout_probs(model: base.Model, rows, key, samples: int) -> np.ndarray:
  """[T, U, K] class probabilities of T dropout passes over the rows."""
  x = fi_active.model_inputs(model, rows)
  probs = train.map_blocks(
      lambda b: _dropout_probs(model.apply_fn, model.variables, b, key,
                               samples), x, 256)
  if np.allclose(probs, probs[:1]):
    raise ValueError("BALD posterior='mc_dropout': every dropout pass gives "
                     'the same output (the model has no dropout). Use '
                     "posterior='laplace'.")
  return probs


def laplace_probs(model: base.Model, labelled, y, rows, key,
                  samples: int) -> np.ndarray:
  """[T, U, K] probabilities under T Laplace samples of the last layer."""
  tab, theta, x = fi_active.tabular_view(
      model, np.concatenate([labelled, rows]), 'last')
  x_l, x_c = x[:len(labelled)], x[len(labelled):]
  curv = curvature_lib.curvature(tab, theta, x_l, y, model.weight_decay)
  z = np.asarray(jax.random.normal(key, (samples, len(theta))), np.float64)
  # (n H)⁻¹ = L⁻ᵀ L⁻¹ / n: θ_t = θ̂ + L⁻ᵀ z_t / √n.
  chol = curv.operands[0]
  thetas = theta + scipy.linalg.solve_triangular(
      chol.T, z.T, lower=False).T / np.sqrt(len(labelled))
  with jax.enable_x64(True):
    logits = jax.vmap(lambda t: jax.vmap(tab.logits, (None, 0))(t, x_c))(
        jnp.asarray(thetas))
    return np.asarray(jax.nn.softmax(logits, -1))


def make(samples: int = 20, posterior: str = 'mc_dropout') -> base.Strategy:
  if posterior not in POSTERIORS:
    raise ValueError(f'bald: posterior={posterior!r}; valid: {POSTERIORS}.')
  if samples < 2:
    raise ValueError(f'bald: samples={samples}; want at least 2.')

  def select(state, ctx: base.Context, budget: int, key: jax.Array):
    model = ctx.model()
    rows = ctx.candidate_indices
    if posterior == 'mc_dropout':
      probs = dropout_probs(model, rows, key, samples)
    else:
      labelled = np.flatnonzero(ctx.chosen)
      probs = laplace_probs(model, labelled, np.asarray(ctx.labels)[labelled],
                            rows, key, samples)
    scores = mutual_information(probs)
    return fi_util.top_selection(rows, scores, budget), state

  return base.Strategy(lambda ctx: None, select)
