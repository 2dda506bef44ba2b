"""Float64 tabular models as pure functions of a flat parameter vector, and
their training to a stationary point of the regularised risk (paper 004's
logistic regression and MLPs; wave2.md 3.1, 3.7).

A model is `Tabular(init, logits)`: ``init(key) -> θ [p]`` and
``logits(θ, x [d]) -> [K]``. Binary models return the two logits (0, z),
so the softmax is the sigmoid and every formula of `fi` is the generic
multi-class one (rank G ≤ K − 1 = 1).

`fit` minimises R(θ) = mean_i CE(y_i, f(x_i; θ)) + (wd/2)‖θ‖² (the weight
decay on every parameter, as PyTorch's SGD applies it) with full-batch
L-BFGS (scipy) on jitted float64 values and gradients, then Newton steps
on the exact Hessian for convex models (logistic regression). The influence
formulas assume θ̂ is a stationary point of exactly this R (wave2.md 3.7):
paper 004 trains with SGD (Table 3: lr 1e-2, wd 1e-2 on Adult) for an
unstated number of epochs; we minimise the same objective to ‖∇R‖ ~ 1e-10
instead and report ‖∇R(θ̂)‖.

Dimensions: n rows, d features, p parameters, K classes.
"""

import functools
from typing import Callable, NamedTuple

import jax
import jax.flatten_util
import jax.numpy as jnp
import numpy as np
import scipy.optimize


class Tabular(NamedTuple):
  """init(key) -> θ [p]; logits(θ, x [d]) -> [K]; features(θ, x) -> the
  last layer's input (x itself for logistic regression); convex: R is
  convex in θ (Newton steps finish `fit`); outputs: for a linear model
  (one layer, θ = a row-major [d (+ 1 bias row), outputs] matrix), its
  number of output units (1 for binary logistic regression), else 0
  (K-FAC needs it, `curvature`)."""
  init: Callable[[jax.Array], jax.Array] | None
  logits: Callable[[jax.Array, jax.Array], jax.Array]
  features: Callable[[jax.Array, jax.Array], jax.Array]
  convex: bool = False
  outputs: int = 0


@functools.cache
def apply_function(model: Tabular):
  """``apply_fn({'params': θ}, x [B, d]) -> (logits [B, K], features)``,
  the `strategies.base.Model` convention."""
  def apply_fn(variables, x, train: bool = False):
    del train
    theta = variables['params']
    return (jax.vmap(model.logits, (None, 0))(theta, x),
            jax.vmap(model.features, (None, 0))(theta, x))
  apply_fn.tabular = model  # `from_model` gives it back.
  return apply_fn


@functools.cache
def _from_apply(apply_fn, treedef, leaves: tuple) -> Tabular:
  zeros = jax.tree.unflatten(treedef, [np.zeros(s, d) for s, d in leaves])
  unravel = jax.flatten_util.ravel_pytree(zeros)[1]

  def out(theta, x, i):
    return apply_fn({'params': unravel(theta)}, x[None])[i][0]

  return Tabular(None, lambda t, x: out(t, x, 0), lambda t, x: out(t, x, 1))


def from_model(apply_fn, params) -> tuple[Tabular, np.ndarray]:
  """(Tabular, θ flat [p]) of a model given as a `strategies.base.Model`'s
  apply_fn and params pytree (the same Tabular for equal structures, so
  jitted users compile once; `apply_function`'s own Tabular as it is)."""
  if hasattr(apply_fn, 'tabular'):
    return apply_fn.tabular, np.asarray(params, np.float64)
  leaves, treedef = jax.tree.flatten(params)
  spec = tuple((np.shape(a), np.asarray(a).dtype) for a in leaves)
  flat = jax.flatten_util.ravel_pytree(params)[0]
  return _from_apply(apply_fn, treedef, spec), np.asarray(flat)


@functools.cache
def logistic_regression(d: int, intercept: bool = True) -> Tabular:
  """Binary logistic regression: logits (0, wᵀx + b); p = d (+ 1)."""
  p = d + int(intercept)

  def logits(theta, x):
    z = jnp.dot(theta[:d], x) + (theta[d] if intercept else 0.)
    return jnp.stack([jnp.zeros_like(z), z])

  return Tabular(lambda key: jnp.zeros(p, jnp.float64), logits,
                 lambda theta, x: x, convex=True, outputs=1)


@functools.cache
def linear(d: int, num_classes: int) -> Tabular:
  """Multinomial logistic regression, logits Wᵀx + b (W [d, K] row-major
  then b [K] in θ: a Flax Dense's kernel and bias, flattened)."""
  def logits(theta, x):
    return x @ theta[:d * num_classes].reshape(d, num_classes) + theta[
        d * num_classes:]

  return Tabular(lambda key: jnp.zeros(d * num_classes + num_classes,
                                       jnp.float64),
                 logits, lambda theta, x: x, convex=True,
                 outputs=num_classes)


@functools.cache
def mlp(d: int, widths: tuple[int, ...], num_classes: int = 2) -> Tabular:
  """ReLU MLP d → widths → K logits (binary: K = 2 logits (0, z), one
  output unit, as a sigmoid output layer); He-uniform initialisation."""
  outs = 1 if num_classes == 2 else num_classes
  sizes = [d, *widths, outs]
  shapes = [(a, b) for a, b in zip(sizes[:-1], sizes[1:])]

  def unflatten(theta):
    layers, at = [], 0
    for a, b in shapes:
      w = theta[at:at + a * b].reshape(a, b)
      layers.append((w, theta[at + a * b:at + a * b + b]))
      at += a * b + b
    return layers

  def init(key):
    parts = []
    for i, (a, b) in enumerate(shapes):
      bound = np.sqrt(6 / a)
      parts += [jax.random.uniform(jax.random.fold_in(key, i), (a * b,),
                                   jnp.float64, -bound, bound),
                jnp.zeros(b, jnp.float64)]
    return jnp.concatenate(parts)

  def features(theta, x):
    for w, b in unflatten(theta)[:-1]:
      x = jax.nn.relu(x @ w + b)
    return x

  def logits(theta, x):
    w, b = unflatten(theta)[-1]
    z = features(theta, x) @ w + b
    return jnp.concatenate([jnp.zeros(1, z.dtype), z]) if outs == 1 else z

  return Tabular(init, logits, features)


def loss(model: Tabular, theta, x, y):
  """Cross entropy −log softmax(f(x; θ))_y of one row."""
  return -jax.nn.log_softmax(model.logits(theta, x))[y]


def risk(model: Tabular, theta, x, y, weight_decay: float):
  """R(θ) = mean_i loss_i + (wd/2)‖θ‖² (x [n, d], y [n])."""
  per = jax.vmap(loss, (None, None, 0, 0))(model, theta, x, y)
  return jnp.mean(per) + 0.5 * weight_decay * jnp.dot(theta, theta)


@functools.partial(jax.jit, static_argnums=0)
def _value_and_grad(model, theta, x, y, wd):
  return jax.value_and_grad(functools.partial(risk, model))(theta, x, y, wd)


@functools.partial(jax.jit, static_argnums=0)
def _hessian(model, theta, x, y, wd):
  return jax.hessian(functools.partial(risk, model))(theta, x, y, wd)


def hessian(model: Tabular, theta, x, y, weight_decay: float) -> np.ndarray:
  """[p, p] float64 ∇²R(θ) (weight decay included)."""
  with jax.enable_x64(True):
    return np.asarray(_hessian(model, jnp.asarray(theta, jnp.float64),
                               jnp.asarray(x, jnp.float64), jnp.asarray(y),
                               float(weight_decay)))


def fit(model: Tabular, x, y, weight_decay: float, key: jax.Array,
        gtol: float = 1e-10, max_iter: int = 5000) -> tuple[np.ndarray, float]:
  """(θ̂ [p] float64, ‖∇R(θ̂)‖) minimising R from model.init(key).

  Raises:
    ValueError: non-finite inputs, or fewer than 2 rows.
  """
  x = np.asarray(x, np.float64)
  y = np.asarray(y, np.int64)
  if len(x) < 2 or len(x) != len(y):
    raise ValueError(f'fit: {len(x)} rows and {len(y)} labels; needs at least '
                     '2 rows, one label each.')
  if not np.isfinite(x).all():
    bad = np.flatnonzero(~np.isfinite(x).all(1))
    raise ValueError(f'fit: {len(bad)} rows have NaN or inf features (e.g. '
                     f'rows {bad[:5].tolist()}).')
  wd = float(weight_decay)
  with jax.enable_x64(True):
    xj, yj = jnp.asarray(x), jnp.asarray(y)

    def fun(t):
      v, g = _value_and_grad(model, jnp.asarray(t), xj, yj, wd)
      return float(v), np.asarray(g)

    theta0 = np.asarray(model.init(key), np.float64)
    res = scipy.optimize.minimize(fun, theta0, jac=True, method='L-BFGS-B',
                                  options=dict(gtol=gtol, maxiter=max_iter,
                                               maxcor=50, ftol=0.))
    theta = res.x
    if model.convex:  # Newton polish: exact stationarity for convex R.
      for _ in range(5):
        g = fun(theta)[1]
        if np.linalg.norm(g) < 1e-14:
          break
        h = np.asarray(_hessian(model, jnp.asarray(theta), xj, yj, wd))
        theta = theta - np.linalg.solve(h, g)
    return theta, float(np.linalg.norm(fun(theta)[1]))
