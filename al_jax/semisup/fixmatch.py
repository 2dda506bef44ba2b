"""FixMatch (Sohn et al. 2020), the semi-supervised training behind paper
003's numbers (wave2.md 2.4: kekmodel's PyTorch port, which the authors
use).

Each step draws B labelled images (the labelled set repeated: successive
shuffles, `train.index_stream`) and μB unlabelled ones (the whole pool,
labelled images included), and minimises

  L = CE(f(weak(x_l)), y) + λ_u · mean_u 1[max p_w ≥ τ] · CE(f(strong(x_u)), ŷ)

with p_w = softmax(f(weak(x_u))) (no gradient), ŷ = argmax p_w, τ = 0.95,
λ_u = 1, temperature 1; weak / strong views from `input.randaugment`. SGD
with Nesterov momentum 0.9, learning rate lr·max(0, cos(7πk / 16K)) over
the K steps, weight decay (coupled, as PyTorch's SGD) on weights only — not
on biases or normalisation scales; an exponential moving average of the
parameters (decay 0.999; BatchNorm statistics copied) is what `train`
returns, as the code evaluates the EMA model. One forward pass serves the
three batches (kekmodel interleaves them for BatchNorm; we concatenate).

Sized here by `steps`, `batch_size` and `mu`; the paper's 2²⁰ steps of a
WideResNet do not fit a CPU.

Dimensions: L labelled, U unlabelled, B batch, μB unlabelled batch, C
classes.
"""

import functools
import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from al_jax import config_check
from al_jax import train as train_lib
from al_jax.input import preprocess
from al_jax.input import randaugment

OPTIONS = dict(steps=3000, batch_size=64, mu=7, threshold=0.95,
               lambda_u=1.0, learning_rate=0.03, momentum=0.9,
               weight_decay=5e-4, ema_decay=0.999, flip=False)


def unlabeled_loss(logits_weak, logits_strong, threshold: float):
  """(mean masked cross entropy over the unlabelled batch, [μB] mask).

  Args:
    logits_weak: [μB, C] logits of the weak views (no gradient flows).
    logits_strong: [μB, C] logits of the strong views.
    threshold: τ; a row counts where its top probability is ≥ τ.
  """
  p = jax.nn.softmax(jax.lax.stop_gradient(logits_weak), -1)
  mask = jnp.max(p, -1) >= threshold
  ce = optax.softmax_cross_entropy_with_integer_labels(
      logits_strong, jnp.argmax(p, -1))
  return jnp.mean(jnp.where(mask, ce, 0.)), mask


def learning_rate(lr: float, total: int):
  """kekmodel's schedule: lr · max(0, cos(7πk / (16K))), no warm-up."""
  return lambda k: lr * jnp.maximum(0., jnp.cos(7 * math.pi * k /
                                               (16 * total)))


def _decay_mask(params):
  return jax.tree.map(lambda p: p.ndim > 1, params)


def train(model: nn.Module, x_labeled, y_labeled, x_unlabeled,
          key: jax.Array, **options):
  """Trains `model` with FixMatch; returns (EMA variables, history).

  Args:
    model: a flax module ``model(x, train=...) -> (logits, embedding)``.
    x_labeled: [L, H, W, C] uint8 or [0, 1] float; y_labeled: [L] int.
    x_unlabeled: [U, H, W, C] (the pool; may include the labelled images).
    key: PRNG key (initialisation, batches, augmentation, dropout).
    **options: `OPTIONS` overrides.

  Returns:
    ({'params': EMA params, 'batch_stats': ...}, {'loss': [steps],
    'mask_rate': [steps]} per step).
  """
  config_check.check_keys(options, tuple(OPTIONS), 'fixmatch')
  o = {**OPTIONS, **options}
  steps, b, mu = int(o['steps']), int(o['batch_size']), int(o['mu'])
  if len(x_labeled) == 0 or len(x_unlabeled) == 0:
    raise ValueError('FixMatch needs labelled and unlabelled images.')
  k_init, k_batches, k_steps = jax.random.split(key, 3)
  variables = model.init({'params': k_init, 'dropout': k_init},
                         jnp.zeros((1,) + x_labeled.shape[1:]))
  params, stats = variables['params'], variables.get('batch_stats', {})
  tx = optax.chain(
      optax.add_decayed_weights(float(o['weight_decay']), _decay_mask),
      optax.sgd(learning_rate(float(o['learning_rate']), steps),
                float(o['momentum']), nesterov=True))
  opt_state = tx.init(params)
  ema = params
  rng = np.random.default_rng(np.asarray(jax.random.key_data(k_batches)))
  lab = train_lib.index_stream(len(x_labeled), b, steps, rng)
  unl = train_lib.index_stream(len(x_unlabeled), mu * b, steps, rng)
  step = functools.partial(_step, model=model, tx=tx,
                           threshold=float(o['threshold']),
                           lambda_u=float(o['lambda_u']),
                           decay=float(o['ema_decay']), flip=bool(o['flip']))
  y_labeled = np.asarray(y_labeled, np.int32)
  losses, rates = [], []
  for i in range(steps):
    params, stats, opt_state, ema, loss, rate = step(
        params, stats, opt_state, ema, x_labeled[lab[i]], y_labeled[lab[i]],
        x_unlabeled[unl[i]], jax.random.fold_in(k_steps, i))
    losses.append(loss)
    rates.append(rate)
  history = {'loss': np.asarray(jax.device_get(losses)).tolist(),
             'mask_rate': np.asarray(jax.device_get(rates)).tolist()}
  return {'params': ema, 'batch_stats': stats}, history


def predict(model: nn.Module, variables, x, mesh) -> np.ndarray:
  """[N, C] logits of the model `train` returned (eval mode, batched)."""
  state = train_lib.TrainState.create(
      apply_fn=model.apply, params=variables['params'], tx=optax.identity(),
      batch_stats=variables['batch_stats'])
  return train_lib.predict(state, x, mesh)[0]


@functools.partial(jax.jit, static_argnames=(
    'model', 'tx', 'threshold', 'lambda_u', 'decay', 'flip'))
def _step(params, stats, opt_state, ema, x_l, y_l, x_u, key, *, model, tx,
          threshold, lambda_u, decay, flip):
  k_weak_l, k_weak_u, k_strong, k_drop = jax.random.split(key, 4)
  views = jnp.concatenate([
      randaugment.augment(preprocess.normalize(x_l), k_weak_l, False, flip),
      randaugment.augment(preprocess.normalize(x_u), k_weak_u, False, flip),
      randaugment.augment(preprocess.normalize(x_u), k_strong, True, flip)])
  n_l, n_u = len(x_l), len(x_u)

  def loss_fn(p):
    (logits, _), updates = model.apply(
        {'params': p, 'batch_stats': stats}, views, train=True,
        rngs={'dropout': k_drop}, mutable=['batch_stats'])
    sup = optax.softmax_cross_entropy_with_integer_labels(
        logits[:n_l], y_l).mean()
    unsup, mask = unlabeled_loss(logits[n_l:n_l + n_u], logits[n_l + n_u:],
                                 threshold)
    return sup + lambda_u * unsup, (updates.get('batch_stats', {}), mask)

  (loss, (stats, mask)), grads = jax.value_and_grad(
      loss_fn, has_aux=True)(params)
  updates, opt_state = tx.update(grads, opt_state, params)
  params = optax.apply_updates(params, updates)
  ema = jax.tree.map(lambda e, p: decay * e + (1 - decay) * p, ema, params)
  return params, stats, opt_state, ema, loss, jnp.mean(mask)
