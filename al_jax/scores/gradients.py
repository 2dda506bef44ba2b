"""Last-layer gradients of the cross-entropy: BADGE's gradient embedding
(paper 000 section 3.1), the embedding of CRAIG and GradMatch (paper 002
section 5 baselines; Mirzasoleiman et al. 2020, Killamsetty et al. 2021a).

With logits = W z + b (W [C, D], z the penultimate features) and the
cross-entropy loss L = -log softmax(logits)_y, the gradient of one example's
loss w.r.t. the last layer is

  ∂L/∂b = e = softmax(logits) - onehot(y)   [C]
  ∂L/∂W = e ⊗ z = e zᵀ                       [C, D]

DeepCore (`calc_gradient` of Craig / GradMatch) concatenates [∂L/∂b,
flatten(∂L/∂W)], C·(D + 1) columns ("embedding_dim + bias"); so do we.
Inner products need no such width: g_i·g_j = (e_i·e_j)(1 + z_i·z_j).

This is the plain cross-entropy gradient that CRAIG and GradMatch define,
and what DeepCore computes since its commit ca3fb21 (2023-01-14, "bug
fix"); before it, DeepCore applied CrossEntropyLoss to softmax(outputs), a
double softmax.

BADGE takes y = the predicted class ŷ (`badge_factors`); multi-label pairs
have a 2-block gradient (`pair_badge_factors`).

Paper 001's gradient-based sensitivity sampling (section 5.2) needs
‖∇_θ L‖² over *all* parameters at a few items: `gradient_sq_norms` (one
jitted vmap(grad) per batch); its last-layer closed form
‖e‖²(‖z‖² + 1), the square of GraNd's, is `last_layer_gradient_sq_norms`.

Dimensions: N pool, n rows asked for, C classes, D feature width, P pairs.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np

from al_jax.input import preprocess
from al_jax.kernels import shapes


def check_inputs(logits, features, labels):
  """Validated (logits [N, C] float32, features [N, D] float32, labels [N]
  int64); raises ValueError on bad shapes, NaN/inf or labels not in [0, C)."""
  logits = np.asarray(logits, np.float32)
  features = np.asarray(features, np.float32)
  labels = np.asarray(labels)
  if logits.ndim != 2 or features.ndim != 2 or labels.ndim != 1:
    raise ValueError(f'want logits [N, C], features [N, D], labels [N]; got '
                     f'{logits.shape}, {features.shape}, {labels.shape}.')
  if not len(logits) == len(features) == len(labels):
    raise ValueError(f'logits, features and labels have {len(logits)}, '
                     f'{len(features)} and {len(labels)} rows.')
  for name, a in (('logits', logits), ('features', features)):
    bad = np.flatnonzero(~np.isfinite(a).all(1))
    if len(bad):
      raise ValueError(f'{name} contain NaN or inf in {len(bad)} rows, e.g. '
                       f'{bad[:5].tolist()}.')
  if labels.size and (not np.issubdtype(labels.dtype, np.integer) or
                      labels.min() < 0 or labels.max() >= logits.shape[1]):
    raise ValueError(f'labels must be integers in [0, {logits.shape[1]}) '
                     '(the logits\' classes).')
  return logits, features, labels.astype(np.int64)


def output_errors(logits, labels) -> np.ndarray:
  """[n, C] float64 e = softmax(logits) - onehot(labels), ∂L/∂logits."""
  z = np.asarray(logits, np.float64)
  p = np.exp(z - z.max(1, keepdims=True))
  e = p / p.sum(1, keepdims=True)
  e[np.arange(len(e)), np.asarray(labels)] -= 1.
  return e


def last_layer_gradients(logits, features, labels) -> np.ndarray:
  """Per-example gradient of the cross-entropy w.r.t. the last Dense layer.

  Layout of row i (C classes, D features z):
    out[i, c]             = e_ic = softmax(logits_i)_c - [labels_i == c]
    out[i, C + c·D + k]   = e_ic · z_ik
  i.e. [bias gradient, kernel gradient in (out, in) order, flattened]; a
  Flax Dense kernel is [D, C] (in, out), so its gradient is the transpose of
  the second block reshaped to [C, D]. Same layout as DeepCore.

  Memory: n·C·(D + 1) float32; call it on a class's rows, not the pool
  (CIFAR-100, D = 512: 51,300 columns, 205 KB a row).

  Args:
    logits: [n, C] eval-mode logits of the model.
    features: [n, D] penultimate features z (the last layer's input).
    labels: [n] int classes in [0, C).

  Returns:
    [n, C·(D + 1)] float32.
  """
  logits, features, labels = check_inputs(logits, features, labels)
  e = output_errors(logits, labels).astype(np.float32)
  n, c = e.shape
  out = np.empty((n, c * (features.shape[1] + 1)), np.float32)
  out[:, :c] = e
  # A view (rows split in place), written without a temporary.
  np.multiply(e[:, :, None], features[:, None, :],
              out=out[:, c:].reshape(n, c, -1))
  return out


def badge_factors(logits: jax.Array) -> jax.Array:
  """BADGE class factor a = softmax(logits) - onehot(argmax).

  The gradient embedding of an example is a ⊗ z with z its [D] penultimate
  embedding (the loss gradient w.r.t. the last layer at the predicted label).

  Args:
    logits: [N, C] float.

  Returns:
    [N, C] float32.
  """
  p = jax.nn.softmax(jnp.asarray(logits, jnp.float32), axis=-1)
  return p - jax.nn.one_hot(jnp.argmax(p, axis=-1), p.shape[-1], dtype=p.dtype)


def pair_badge_factors(pair_logits: np.ndarray) -> np.ndarray:
  """[P] pair logits -> [P, 2] BADGE factors of each pair's binary problem.

  The pair's two outcomes (negative, positive) have probabilities
  softmax([0, l]) = (1 − σ(l), σ(l)), so the BADGE factor p_y − 1[y = ŷ]
  of a two-class softmax over [0, l] is exactly the pair's 2-block gradient
  (paper 000 section 3.2: "the gradient is composed of l = 2 blocks"); the
  gradient embedding of the pair is this factor ⊗ its image's embedding.
  """
  pair_logits = np.asarray(pair_logits, np.float32)
  two_class = np.stack([np.zeros_like(pair_logits), pair_logits], axis=1)
  return np.asarray(badge_factors(two_class))


def last_layer_gradient_sq_norms(logits, features, labels) -> np.ndarray:
  """[n] float64 ‖∂L/∂(W, b)‖² = ‖e‖²(‖z‖² + 1) of the cross-entropy w.r.t.
  the last Dense layer (the squared row norms of `last_layer_gradients`,
  without forming them)."""
  logits, features, labels = check_inputs(logits, features, labels)
  e = output_errors(logits, labels)
  return np.sum(e * e, 1) * (np.sum(np.square(features, dtype=np.float64), 1)
                             + 1.)


def per_example_gradients(model, indices, labels, reduce=None,
                          batch_size: int = 64):
  """∇_θ L(x_i, y_i) of the eval-mode cross-entropy for each item, over
  every parameter θ (batch statistics frozen, no dropout).

  One jitted `jax.vmap(jax.grad)` per fixed-size batch (the last one padded),
  so items are never looped over in Python and one compiled program serves
  any count.

  Args:
    model: `strategies.base.Model` with `inputs`.
    indices: [n] int pool items.
    labels: [n] int classes.
    reduce: optional jittable map from a batch's gradient pytree (leading
      axis B) to what is kept, e.g. its squared norms; None keeps the
      gradients.
    batch_size: items per vmapped batch (memory: batch_size copies of θ).

  Returns:
    The gradient pytree with leading axis n (or `reduce`'s output
    concatenated over batches), as numpy.
  """
  if model.inputs is None:
    raise ValueError('Per-example gradients need the model\'s pool inputs '
                     '(Model.inputs), and none were given.')
  indices = np.asarray(indices, np.int64).reshape(-1)
  labels = np.asarray(labels).reshape(-1)
  if len(labels) != len(indices) or not len(indices):
    raise ValueError(f'{len(indices)} indices and {len(labels)} labels: '
                     'want as many, at least one.')
  x = np.asarray(model.inputs(indices))
  params = model.variables['params']
  rest = {k: v for k, v in model.variables.items() if k != 'params'}
  b = min(batch_size, shapes.pow2(len(indices)))
  out = []
  for start in range(0, len(indices), b):
    xb = x[start:start + b]
    yb = labels[start:start + b].astype(np.int32)
    got = _gradient_batch(params, rest, _pad(xb, b), _pad(yb, b),
                          apply_fn=model.apply_fn, reduce=reduce)
    out.append(jax.tree.map(lambda a, m=len(xb): np.asarray(a)[:m], got))
  return jax.tree.map(lambda *a: np.concatenate(a), *out)


def sq_norms(grads) -> jax.Array:
  """[B] squared norms of a gradient pytree with leading axis B."""
  return sum(jnp.sum(jnp.square(g.reshape(g.shape[0], -1)), 1)
             for g in jax.tree.leaves(grads))


def gradient_sq_norms(model, indices, labels, batch_size: int = 64
                      ) -> np.ndarray:
  """[n] float64 ‖∇_θ L(x_i, y_i)‖² over every parameter θ, per item
  (`per_example_gradients` reduced in the jitted batch)."""
  return np.asarray(per_example_gradients(model, indices, labels, sq_norms,
                                          batch_size), np.float64)


def _pad(a: np.ndarray, rows: int) -> np.ndarray:
  return np.concatenate([a, np.repeat(a[:1], rows - len(a), 0)])


@functools.partial(jax.jit, static_argnames=('apply_fn', 'reduce'))
def _gradient_batch(params, rest, x, y, apply_fn, reduce):
  """Per-example cross-entropy gradients of a batch, optionally reduced."""

  def loss(p, xi, yi):
    logits = apply_fn({'params': p, **rest},
                      preprocess.normalize(xi[None]), train=False)[0]
    return -jax.nn.log_softmax(logits[0].astype(jnp.float32))[yi]

  grads = jax.vmap(jax.grad(loss), in_axes=(None, 0, 0))(params, x, y)
  return grads if reduce is None else reduce(grads)
