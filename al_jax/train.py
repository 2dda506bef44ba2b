"""TrainState, the jitted train step, `fit` and a batched `predict`.

Pure functions of (state, data, key). The learning rate is evaluated on the
host and passed to the step as a traced scalar, so the compiled step is reused
across active-learning rounds whose step counts (and schedules) differ.

Dimensions: N pool, B batch, C classes, D embedding.
"""

import contextlib
import functools
import math
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import tqdm
from flax.training import train_state

from al_jax import checkpoints
from al_jax import config_check
from al_jax import distributed
from al_jax import optim
from al_jax import sharding
from al_jax.input import preprocess
from al_jax.input import stream

TRAIN_KEYS = frozenset({
    'optimizer', 'learning_rate', 'momentum', 'nesterov', 'weight_decay',
    'schedule', 'warmup_steps', 'decay_boundaries', 'decay_factor',
    'decay_every_steps', 'batch_size', 'epochs', 'steps', 'crop_padding',
    'flip', 'init_checkpoint', 'predict_batch_size', 'retrain'})


def check_config(cfg):
  """Validates ``config.train``: known keys, and no option that the chosen
  optimizer or schedule ignores (`optim.check`)."""
  config_check.check_keys(cfg, TRAIN_KEYS, 'config.train')
  optim.check(cfg)


class TrainState(train_state.TrainState):
  """Adds the BatchNorm statistics (an empty dict for models without BN)."""
  batch_stats: Any = None


@functools.partial(jax.jit, static_argnums=0)
def _init_variables(model: nn.Module, rngs, x):
  """model.init, compiled once per model and input shape (modules hash by
  their fields), not once per round."""
  return model.init(rngs, x, train=False)


def create_state(model: nn.Module, input_shape: tuple[int, ...],
                 tx: optax.GradientTransformation,
                 key: jax.Array) -> TrainState:
  """Initializes parameters for inputs of shape [1, *input_shape]."""
  k_params, k_dropout = jax.random.split(key)
  x = jnp.zeros((1,) + tuple(input_shape), jnp.float32)
  variables = _init_variables(model, {'params': k_params, 'dropout': k_dropout},
                              x)
  return TrainState.create(
      apply_fn=model.apply, params=variables['params'], tx=tx,
      batch_stats=variables.get('batch_stats', {}))


def per_example_loss(logits: jax.Array, y: jax.Array) -> jax.Array:
  """Cross-entropy per example.

  Args:
    logits: [B, C].
    y: [B] int class ids (softmax), or [B, C] in {-1, 0, 1} for multi-label
      (sigmoid per class; -1 = not annotated, excluded).

  Returns:
    [B] loss; for multi-label the sum over annotated classes.
  """
  if y.ndim == 1:
    return optax.softmax_cross_entropy_with_integer_labels(logits, y)
  mask = (y >= 0).astype(logits.dtype)
  bce = optax.sigmoid_binary_cross_entropy(logits, jnp.maximum(y, 0))
  return jnp.sum(bce * mask, axis=-1)


@functools.partial(jax.jit, static_argnames=('aug', 'with_outputs'),
                   donate_argnums=0)
def train_step(state: TrainState, x: jax.Array, y: jax.Array, w: jax.Array,
               lr: jax.Array, key: jax.Array, aug: preprocess.Augment,
               with_outputs: bool = False):
  """One optimizer step on a batch.

  Args:
    state: replicated TrainState whose tx has unit learning rate.
    x: [B, ...] uint8 images or float features, sharded over ``data``.
    y: [B] or [B, C] labels (see `per_example_loss`).
    w: [B] float32 example weights.
    lr: scalar learning rate for this step.
    key: PRNG key for this step (dropout, augmentation).
    aug: static augmentation settings.
    with_outputs: static; also return the model outputs of this step's
      forward pass (train mode: augmented inputs, dropout on, BatchNorm batch
      statistics, parameters before the update) at no extra compute.

  Returns:
    (new state, weighted mean loss), plus (logits [B, C], embedding [B, D])
    as a third element when `with_outputs`.
  """
  k_aug, k_drop = jax.random.split(key)
  x = preprocess.augment(preprocess.normalize(x), k_aug, aug)
  # Multi-label losses are averaged over annotated pairs, multi-class over
  # examples.
  norm = w if y.ndim == 1 else w * jnp.sum(y >= 0, axis=-1)

  def loss_fn(params):
    outputs, updates = state.apply_fn(
        {'params': params, 'batch_stats': state.batch_stats}, x, train=True,
        rngs={'dropout': k_drop}, mutable=['batch_stats'])
    logits = outputs[0]
    loss = jnp.sum(w * per_example_loss(logits, y))
    return loss / jnp.maximum(jnp.sum(norm), 1e-12), (updates, outputs)

  (loss, (updates, outputs)), grads = jax.value_and_grad(
      loss_fn, has_aux=True)(state.params)
  steps, opt_state = state.tx.update(grads, state.opt_state, state.params)
  steps = jax.tree.map(lambda u: u * lr, steps)
  state = state.replace(
      step=state.step + 1, params=optax.apply_updates(state.params, steps),
      opt_state=opt_state, batch_stats=updates.get('batch_stats', {}))
  if with_outputs:
    return state, loss, outputs
  return state, loss


def index_stream(n: int, batch_size: int, steps: int,
                 rng: np.random.Generator) -> np.ndarray:
  """[steps, B] positions into n items: successive shuffled epochs, chunked.

  No padding, so every batch holds real examples (BatchNorm statistics never
  see filler rows).
  """
  if steps == 0:  # e.g. evaluating an init_checkpoint as it is.
    return np.zeros((0, batch_size), np.int64)
  epochs = math.ceil(steps * batch_size / n)
  order = np.concatenate([rng.permutation(n) for _ in range(epochs)])
  return order[:steps * batch_size].reshape(steps, batch_size)


def epoch_batches(key: jax.Array, n: int, batch_size: int, epochs: int):
  """Yields (step, [B] rows): each epoch a fresh permutation of n items
  (fold_in(key, epoch)) cut into n // B batches, the last incomplete batch
  dropped so a jitted step compiles once."""
  steps = n // batch_size
  for epoch in range(epochs):
    order = np.asarray(jax.random.permutation(jax.random.fold_in(key, epoch),
                                              n))
    for s in range(steps):
      yield epoch * steps + s, order[s * batch_size:(s + 1) * batch_size]


def epoch_means(losses, steps_per_epoch: int) -> list[float]:
  """Per-epoch means of the per-step device scalars `epoch_batches` made."""
  per_step = np.asarray(jax.device_get(losses), np.float64)
  return per_step.reshape(-1, steps_per_epoch).mean(1).tolist()


def map_blocks(fn, x: np.ndarray, batch_size: int) -> np.ndarray:
  """fn over x in zero-padded blocks of one shape (one compile), results
  concatenated along their second-to-last axis (rows), padding dropped.

  fn: [B, ...] -> [..., B, K] (e.g. features [B, F] or per-head [H, B, M]).
  """
  block = min(batch_size, max(len(x), 1))
  out = [np.asarray(fn(sharding.pad_rows(x[s:s + block], block)))
         [..., :len(x[s:s + block]), :] for s in range(0, len(x), block)]
  return np.concatenate(out, -2)


def _bar(steps, what: str, unit: str):
  """`steps` with a transient progress bar, shown only when they take more
  than a few seconds (long rounds: training steps, the pool pass)."""
  return tqdm.tqdm(steps, desc=what, unit=unit, leave=False, delay=3.0,
                   dynamic_ncols=True)


def num_steps(cfg, n_labeled: int) -> int:
  """Steps budget: ``train.steps`` if set, else ``train.epochs`` epochs."""
  if cfg.get('steps'):
    return int(cfg.steps)
  return int(cfg.get('epochs', 10)) * math.ceil(
      n_labeled / cfg.get('batch_size', 64))


def fit(cfg, model: nn.Module, x: np.ndarray, y: np.ndarray,
        idx: np.ndarray, key: jax.Array, mesh: jax.sharding.Mesh,
        state: TrainState | None = None, weights: np.ndarray | None = None,
        progress: Callable[[int, float], None] | None = None,
        on_batch: Callable[..., None] | None = None,
        on_step: Callable[..., None] | None = None) -> TrainState:
  """Trains on the examples `idx` of the pool.

  Args:
    cfg: ``config.train``.
    model: Flax module returning (logits, embedding).
    x: [N, ...] host pool inputs (uint8 images or float features).
    y: [N] or [N, C] host labels; only rows in `idx` are read.
    idx: [L] pool indices to train on.
    key: PRNG key (initialization when `state` is None, order, dropout).
    mesh: device mesh; batches are sharded over ``data``.
    state: state to fine-tune from (a fresh optimizer state is made; its
      step count carries on, see `optim.global_schedule`), or None to
      initialize (from ``cfg.init_checkpoint`` when set, with its step).
    weights: optional [L] per-example weights (e.g. coreset weights).
    progress: optional callback(step, loss) called every 50 steps.
    on_batch: optional callback(step, rows, epochs, outputs) called after
      every step with the batch's pool indices `rows` [B], the epoch of each
      row `epochs` [B] (position in the index stream // L; a batch may
      straddle two epochs, and the last epoch may be partial) and the step's
      own train-mode `outputs` (logits [B, C], embedding [B, D]) as device
      arrays, so recording training dynamics costs no second forward pass
      (see `al_jax.scores.dynamics`).
    on_step: optional callback(steps, state) called after every step (after
      `on_batch`) with the number of steps taken so far in this fit (1, 2,
      ...) and the state they produced, e.g. to snapshot the model where an
      epoch completes (`dynamics.steps_to_complete`). The next step donates
      that state's buffers: use it (predict, save) or copy it
      (``jax.tree.map(jnp.copy, state)``) before returning.

  Returns:
    The trained TrainState.
  """
  batch_size = cfg.get('batch_size', 64)
  sharding.check_batch_size(batch_size, mesh, 'train.batch_size')
  if len(idx) == 0:
    raise ValueError('No labeled examples to train on.')
  steps = num_steps(cfg, len(idx))
  tx = optim.make_optimizer(cfg)
  schedule = optim.make_schedule(cfg, steps)
  k_init, k_order, k_steps = jax.random.split(key, 3)
  if state is None:
    state = create_state(model, x.shape[1:], tx, k_init)
    if cfg.get('init_checkpoint'):
      state = checkpoints.init_from(cfg.init_checkpoint, state, model)
  else:
    state = state.replace(tx=tx, opt_state=tx.init(state.params))
  # The schedule's clock: the global step for schedules of the whole run.
  start = int(state.step) if optim.global_schedule(cfg) else 0
  # may_alias=False: train_step donates its state, so without a copy the
  # caller's arrays (e.g. the `state` passed in to fine-tune) would be deleted.
  state = jax.device_put(state, sharding.replicated(mesh), may_alias=False)
  aug = preprocess.Augment(cfg.get('crop_padding', 0), cfg.get('flip', False))
  w_all = (np.ones(len(idx), np.float32) if weights is None
           else np.asarray(weights, np.float32))
  seed = int(jax.random.randint(k_order, (), 0, 2**31 - 1))
  positions = index_stream(len(idx), batch_size, steps,
                           np.random.default_rng(seed))
  mine = sharding.process_span(batch_size, mesh)
  for step, pos in enumerate(_bar(positions, 'training', 'step')):
    rows = idx[pos]
    batch = sharding.from_process_rows(
        (x[rows[mine]], y[rows[mine]], w_all[pos[mine]]), batch_size, mesh)
    args = (jnp.float32(schedule(start + step)),
            jax.random.fold_in(k_steps, step),
            aug)
    if on_batch is None:
      state, loss = train_step(state, *batch, *args)
    else:
      state, loss, outputs = train_step(state, *batch, *args,
                                        with_outputs=True)
      epochs = (step * batch_size + np.arange(batch_size)) // len(idx)
      on_batch(step, rows, epochs, outputs)
    if progress is not None and (step % 50 == 0 or step == steps - 1):
      progress(step, float(loss))
    if on_step is not None:
      on_step(step + 1, state)
  return state


def _every_logit(logits):
  """`predict`'s default reduce: keeps [B, C]."""
  return logits


@functools.partial(jax.jit, static_argnames=('apply_fn', 'mc_dropout',
                                             'replicated', 'reduce'))
def _predict_step(variables, x, key, apply_fn, mc_dropout, pair_rows=None,
                  pair_cls=None, replicated=None, reduce=_every_logit):
  logits, emb = apply_fn(variables, preprocess.normalize(x), train=False,
                         dropout=mc_dropout, rngs={'dropout': key})
  if pair_rows is not None:  # [B, C] never leaves the devices.
    logits = logits.at[pair_rows, pair_cls].get(
        out_sharding=replicated)
  return None if reduce is None else reduce(logits), emb


def predict(state: TrainState, x: np.ndarray, mesh: jax.sharding.Mesh,
            batch_size: int = 1024,
            dropout_key: jax.Array | None = None,
            pairs=None, reduce=_every_logit
            ) -> tuple[np.ndarray | None, np.ndarray]:
  """Logits and embeddings over a pool, in fixed-size jitted batches.

  Only the outputs are kept: memory is O(N·(C + D)) on the host and one
  batch of activations on the devices (O(N·D) with a `reduce`); with
  `pairs`, O(P + N·D): each
  batch's [B, C] logits are reduced on the devices to those of its images'
  annotated pairs (paper 000 section 3.2 scores pairs, and Open Images'
  [N, C] logits would not fit in host memory). The last batch is
  zero-padded so one compiled program serves any N.

  Args:
    state: trained state.
    x: [N, ...] host inputs.
    mesh: device mesh; each batch is sharded over ``data``.
    batch_size: rows per device call (a multiple of the device count).
    dropout_key: if given, dropout stays on (MC dropout) with this key.
    pairs: None, or a `pairs.PairPool` over these N rows (pairs sorted by
      image, as it keeps them).
    reduce: what is kept of each batch's logits, on the devices: all of
      them (the default), None (embeddings only), or a jittable row-wise
      function [B, C] -> [B, ...] (e.g. a margin: `Context.logit_scores`).

  Returns:
    (logits [N, C] float32, or [P] the pairs' logits with `pairs`, or
    reduce(logits) [N, ...], or None; embeddings [N, D] float32) as numpy
    arrays.
  """
  sharding.check_batch_size(batch_size, mesh, 'train.predict_batch_size')
  if pairs is not None and reduce is not _every_logit:
    raise ValueError('predict(): pairs= keeps the pairs\' logits; it takes '
                     'no reduce=.')
  variables = jax.device_put(
      {'params': state.params, 'batch_stats': state.batch_stats},
      sharding.replicated(mesh))
  mc = dropout_key is not None
  key = dropout_key if mc else jax.random.key(0)
  starts = range(0, len(x), batch_size)
  inputs = stream.pool_batches(x, batch_size,
                               sharding.process_span(batch_size, mesh))
  pair_args = _batch_pairs(pairs, starts, batch_size, mesh)
  outs, pending = [], None

  def fetch(out, rows, pair_count):
    logits, emb = (None if a is None else distributed.to_host(a)
                   for a in out)
    outs.append((logits if logits is None else
                 logits[:rows] if pairs is None else logits[:pair_count],
                 emb[:rows]))

  # `inputs` first: zip then runs it to its end, which stops grain workers
  # (`closing` does on an error).
  with contextlib.closing(inputs):
    for b, (local, start) in enumerate(zip(inputs, _bar(
        starts, 'pool pass', 'batch'))):
      chunk = min(batch_size, len(x) - start)
      xb = sharding.from_process_rows(local, batch_size, mesh)
      rows_b, cls_b, count = pair_args(b)
      out = _predict_step(variables, xb, jax.random.fold_in(key, b),
                          state.apply_fn, mc, rows_b, cls_b,
                          sharding.replicated(mesh), reduce)
      if pending is not None:  # Fetch the previous batch while it runs.
        fetch(*pending)
      pending = (out, chunk, count)
  if pending is None:
    raise ValueError('predict() got an empty pool.')
  fetch(*pending)
  return (None if outs[0][0] is None else
          np.concatenate([o[0] for o in outs]),
          np.concatenate([o[1] for o in outs]))


def _batch_pairs(pairs, starts: range, batch_size: int, mesh):
  """b -> (rows [W] within batch b, classes [W], count) of the pairs of
  batch b's images, padded to the widest batch W (one compiled program);
  (None, None, 0) for every batch without `pairs`."""
  if pairs is None:
    return lambda b: (None, None, 0)
  bounds = np.searchsorted(pairs.image, np.r_[np.asarray(starts),
                                              starts.stop])
  if bounds[-1] != len(pairs) or np.any(np.diff(pairs.image) < 0):
    raise ValueError(f'predict(pairs=): the {len(pairs)} pairs must be '
                     f'sorted by image, within the pool of {starts.stop}.')
  width = max(int(np.diff(bounds).max(initial=0)), 1)

  def args(b: int):
    lo, hi = bounds[b], bounds[b + 1]
    rows = sharding.pad_rows(pairs.image[lo:hi] - starts[b], width)
    cls = sharding.pad_rows(pairs.cls[lo:hi], width)
    return (*jax.device_put((rows.astype(np.int32), cls.astype(np.int32)),
                            sharding.replicated(mesh)), int(hi - lo))
  return args
