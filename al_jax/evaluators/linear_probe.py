"""A linear probe on frozen features: the evaluation behind paper 003's
reported accuracies, scaled down (wave2.md 2.4, the authors'
`semisup-simclrv2-cld/fine_tune.py`).

The authors' recipe: a Linear(D → C) on the frozen backbone, SGD lr 0.01,
Nesterov momentum 0.9, weight decay 1e-4, batch 128 with the last partial
batch dropped, 5 epochs over the labelled set repeated 100 times, and the
classifier's output L2-normalised before the softmax (a quirk of the CLD
ResNet's `forward`; `normalize_logits`). Kept as defaults. Departure: the
features are computed once, without the code's training-time augmentation
(crops, colour jitter, blur) and with BatchNorm statistics frozen; a frozen
feature file cannot be re-augmented.

Dimensions: L labelled examples, D features, C classes.
"""

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

OPTIONS = dict(epochs=5, repeats=100, batch_size=128, learning_rate=0.01,
               momentum=0.9, weight_decay=1e-4, normalize_logits=True)


class Probe(NamedTuple):
  """A trained probe: params {'w': [D, C], 'b': [C]} and whether its outputs
  are L2-normalised (`OPTIONS`)."""
  params: Any
  normalize_logits: bool


def _outputs(params, x, normalize_logits: bool) -> jax.Array:
  out = x @ params['w'] + params['b']
  if normalize_logits:
    out = out / jnp.maximum(jnp.linalg.norm(out, axis=-1, keepdims=True),
                            1e-12)
  return out


@functools.partial(jax.jit, static_argnames=(
    'num_classes', 'steps', 'batch_size', 'normalize_logits'))
def _fit(x, y, key, *, num_classes, steps, batch_size, learning_rate,
         momentum, weight_decay, normalize_logits):
  d = x.shape[1]
  k_w, k_b, k_order = jax.random.split(key, 3)
  bound = 1 / np.sqrt(d)  # PyTorch's nn.Linear initialisation.
  params = {'w': jax.random.uniform(k_w, (d, num_classes), jnp.float32,
                                    -bound, bound),
            'b': jax.random.uniform(k_b, (num_classes,), jnp.float32,
                                    -bound, bound)}
  tx = optax.chain(optax.add_decayed_weights(weight_decay),
                   optax.sgd(learning_rate, momentum, nesterov=True))
  n = x.shape[0]
  per_epoch = n // batch_size
  epochs = -(-steps // per_epoch)
  order = jax.vmap(lambda k: jax.random.permutation(k, n))(
      jax.random.split(k_order, epochs))
  batches = order[:, :per_epoch * batch_size].reshape(-1, batch_size)[:steps]

  def loss_fn(p, idx):
    out = _outputs(p, x[idx], normalize_logits)
    return optax.softmax_cross_entropy_with_integer_labels(out, y[idx]).mean()

  def step(carry, idx):
    p, opt = carry
    grads = jax.grad(loss_fn)(p, idx)
    updates, opt = tx.update(grads, opt, p)
    return (optax.apply_updates(p, updates), opt), None

  (params, _), _ = jax.lax.scan(step, (params, tx.init(params)), batches)
  return params


def fit(features, labels, num_classes: int, key: jax.Array,
        **options) -> Probe:
  """Trains the probe on labelled features.

  Args:
    features: [L, D] float; labels: [L] int in [0, C).
    num_classes: C.
    key: PRNG key (initialisation and batch order).
    **options: `OPTIONS` overrides.
  """
  unknown = set(options) - set(OPTIONS)
  if unknown:
    raise ValueError(f'Unknown linear probe options {sorted(unknown)}; '
                     f'valid: {sorted(OPTIONS)}.')
  o = {**OPTIONS, **options}
  x = np.repeat(np.asarray(features, np.float32), int(o['repeats']), axis=0)
  y = np.repeat(np.asarray(labels, np.int32), int(o['repeats']))
  if len(x) == 0:
    raise ValueError('linear probe: no labelled examples.')
  batch = min(int(o['batch_size']), len(x))
  steps = int(o['epochs']) * (len(x) // batch)
  normalize = bool(o['normalize_logits'])
  return Probe(_fit(x, y, key, num_classes=int(num_classes), steps=steps,
                    batch_size=batch, learning_rate=float(o['learning_rate']),
                    momentum=float(o['momentum']),
                    weight_decay=float(o['weight_decay']),
                    normalize_logits=normalize), normalize)


def logits(probe: Probe, features) -> np.ndarray:
  """[N, C] probe outputs for features [N, D]."""
  return np.asarray(_outputs(probe.params, jnp.asarray(features, jnp.float32),
                             probe.normalize_logits))


def accuracy(probe: Probe, features, labels) -> float:
  """Top-1 accuracy of the probe on [N, D] features."""
  return float(np.mean(np.argmax(logits(probe, features), -1) ==
                       np.asarray(labels)))
