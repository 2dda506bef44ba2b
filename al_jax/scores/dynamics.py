"""Training-dynamics scores: EL2N, forgetting, AUM, loss and GraNd.

While a model trains on the full pool (BOSS's initial run, paper 002
section 4 and appendix D: one full-length run whose first T0 epochs give
EL2N and whose whole length gives AUM), `DynamicsRecorder` takes the logits
and embeddings that each train step already computed
(``train.fit(..., on_batch=recorder)``), so no second pass over the data is
made. These are train-mode outputs: augmented inputs, dropout on, BatchNorm
batch statistics, parameters just before that step's update, one
presentation per example per epoch. Toneva et al. (2019), Pleiss et al.
(2020) and the CCS code (Zheng et al. 2023) also score the presentations
seen in the training loop; Paul et al. (2021) instead evaluate EL2N and
GraNd at one early checkpoint, averaged over initializations.

Memory: not the [E, N, C] logits but six per-example scalars per epoch
(`STATS`), [6, E, N] float32 plus an [E, N] uint8 count, i.e. 25·E·N bytes
(CIFAR-10, 200 epochs: 250 MB), independent of C. Keeping every epoch lets
the windows (e.g. EL2N's first T0 epochs) be chosen after training.

  recorder = DynamicsRecorder(y, num_epochs=200, config=cfg, seed=0)
  state = train.fit(cfg.train, model, x, y, np.arange(len(y)), key, mesh,
                    on_batch=recorder)        # cfg.train.epochs = 200
  save(path, recorder)
  scores = compute_scores(load(path), el2n_epochs=10)  # {'el2n': [N], ...}

Epochs are those of the train loop's index stream: position p of the
stream (row r of step s is p = s·B + r) belongs to epoch p // N. A batch may
straddle two epochs; `steps_to_complete` gives the step count after which
the first T epochs have all been trained on (where `al_jax.loops.subset`
takes the initial model's snapshot).

Dimensions: N pool, B batch, C classes, D embedding, E epochs, S seeds.
"""

import json
from typing import Any, Mapping, Sequence

from etils import epath
import jax
import jax.numpy as jnp
import numpy as np

from al_jax import distributed

# Per-example, per-epoch statistics, in the order of `example_stats` columns.
STATS = ('el2n', 'correct', 'aum', 'aum_prob', 'loss', 'grand')
FORMAT_VERSION = 1
# Scores where a lower value means harder (likely mislabeled).
LOWER_IS_HARDER = ('aum', 'aum_prob')


def steps_to_complete(epochs: int, num_examples: int,
                      batch_size: int) -> int:
  """Train steps after which epochs [0, `epochs`) are complete.

  The step that trains on stream position epochs·N − 1 (the last
  presentation of epoch `epochs` − 1) is step ceil(epochs·N / B) − 1, so the
  state after ceil(epochs·N / B) steps is the first to have been trained on
  every presentation of those epochs. When B does not divide epochs·N, that
  last batch also holds the first ceil(epochs·N / B)·B − epochs·N (< B)
  presentations of epoch `epochs`. With `train.num_steps`' epochs·ceil(N / B)
  steps per run, epochs [0, E) of an E-epoch run complete within it.

  Args:
    epochs: T >= 1.
    num_examples: N, the items trained on (``len(idx)`` in `train.fit`).
    batch_size: B.

  Returns:
    ceil(T·N / B), the `steps` argument of a `train.fit` on_step call.
  """
  if epochs < 1 or num_examples < 1 or batch_size < 1:
    raise ValueError(f'Need epochs, num_examples, batch_size >= 1; got '
                     f'{epochs}, {num_examples}, {batch_size}.')
  return -(-epochs * num_examples // batch_size)


def hardness(name: str, values) -> np.ndarray:
  """[N] float64 score `name` oriented so that larger = harder."""
  d = np.asarray(values, np.float64)
  return -d if name in LOWER_IS_HARDER else d


@jax.jit
def example_stats(logits: jax.Array, embeddings: jax.Array,
                  labels: jax.Array) -> jax.Array:
  """The `STATS` of one presentation of each example.

  GraNd uses the gradient of the loss w.r.t. the last layer, logits = W z + b:
  dl/dW = (p - y) z^T and dl/db = p - y, so its norm is
  ||p - y||_2 · ||[z, 1]||_2 (Paul et al. 2021 use the full gradient).

  Args:
    logits: [B, C] float, C >= 2.
    embeddings: [B, D] float, the input z of the final Dense layer.
    labels: [B] int class ids.

  Returns:
    [B, 6] float32: el2n ||softmax - onehot||_2, correct (0/1, argmax),
    aum (logit of the label minus the largest other logit), aum_prob (the
    same on softmax probabilities), loss (cross-entropy), grand.
  """
  if logits.shape[-1] < 2:
    raise ValueError(f'Need at least 2 classes, got logits {logits.shape}.')
  logits = logits.astype(jnp.float32)
  onehot = jax.nn.one_hot(labels, logits.shape[-1], dtype=jnp.bool_)
  logp = jax.nn.log_softmax(logits)
  p = jnp.exp(logp)
  el2n = jnp.linalg.norm(p - onehot, axis=-1)

  def gap(v):  # Assigned-class value minus the largest other one.
    mine = jnp.sum(jnp.where(onehot, v, 0.0), axis=-1)
    return mine - jnp.max(jnp.where(onehot, -jnp.inf, v), axis=-1)

  correct = (jnp.argmax(logits, axis=-1) == labels).astype(jnp.float32)
  loss = -jnp.sum(jnp.where(onehot, logp, 0.0), axis=-1)
  z = embeddings.astype(jnp.float32)
  grand = el2n * jnp.sqrt(jnp.sum(z * z, axis=-1) + 1.0)
  return jnp.stack([el2n, correct, gap(logits), gap(p), loss, grand], -1)


class DynamicsRecorder:
  """Per-epoch `STATS` of every pool example, filled from train steps.

  Pass it as ``train.fit(..., on_batch=recorder)`` with `idx` covering the
  whole pool 0..N-1 (one recorder per training run / seed). Rows whose epoch
  is >= `num_epochs` are dropped, which also drops the partial trailing epoch
  that `train.index_stream` produces when L is not a multiple of B (so
  record the epochs you train, or fewer). Device results are fetched one step
  late so that recording does not stall the train loop; reading `values`
  fetches the rest.

  Attributes:
    labels: [N] int32 class ids.
    values: [6, E, N] float32 statistics (order `STATS`).
    count: [E, N] uint8, presentations recorded (0 or 1).
    provenance: JSON-able dict (config, seed, num_epochs, ...).
  """

  def __init__(self, labels: np.ndarray, num_epochs: int,
               config: Mapping[str, Any] | None = None,
               seed: int | None = None):
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
      raise ValueError('Training dynamics need [N] int class ids (multi-class)'
                       f'; got labels {labels.shape} {labels.dtype}.')
    if labels.min(initial=0) < 0:
      raise ValueError('Training dynamics need every label known (>= 0).')
    if num_epochs < 1:
      raise ValueError(f'num_epochs must be >= 1, got {num_epochs}.')
    self.labels = labels.astype(np.int32)
    n = len(labels)
    self._values = np.zeros((len(STATS), num_epochs, n), np.float32)
    self.count = np.zeros((num_epochs, n), np.uint8)
    self.provenance = {'config': _jsonable(config), 'seed': seed,
                       'num_epochs': int(num_epochs), 'num_examples': n,
                       'stats': list(STATS), 'format': FORMAT_VERSION}
    self._pending = None

  @property
  def values(self) -> np.ndarray:
    """[6, E, N] float32 statistics (order `STATS`), fetched up to date."""
    self.flush()
    return self._values

  @values.setter
  def values(self, values: np.ndarray):
    self.flush()
    self._values = np.asarray(values, np.float32)

  @property
  def num_epochs(self) -> int:
    return self.count.shape[0]

  @property
  def complete_epochs(self) -> int:
    """Leading epochs in which every example was recorded exactly once."""
    self.flush()
    full = np.all(self.count == 1, axis=1)
    return int(np.argmin(full)) if not full.all() else self.num_epochs

  def __call__(self, step: int, rows: np.ndarray, epochs: np.ndarray,
               outputs: tuple[jax.Array, jax.Array]):
    """The `train.fit` on_batch hook: outputs = (logits, embeddings)."""
    self.record(rows, epochs, *outputs, step=step)

  def record(self, rows: np.ndarray, epochs: np.ndarray, logits: jax.Array,
             embeddings: jax.Array, step: int | None = None):
    """Records one batch of presentations.

    Args:
      rows: [B] int pool indices.
      epochs: [B] int epoch of each row.
      logits: [B, C] train-mode logits (device or host array).
      embeddings: [B, D] inputs of the last layer.
      step: train step, for error messages.
    """
    rows, epochs = np.asarray(rows), np.asarray(epochs)
    keep = epochs < self.num_epochs
    if not keep.any():  # Past the recorded epochs: costs nothing.
      return
    r, e = rows[keep], epochs[keep]
    if (np.unique(e * len(self.labels) + r).size != r.size
        or np.any(self.count[e, r])):
      raise ValueError(
          f'Step {step}: an example was presented twice in one epoch; use '
          'one DynamicsRecorder per training run over the whole pool.')
    self.count[e, r] = 1
    stats = example_stats(logits, embeddings, self.labels[rows])
    self.flush()
    self._pending = (stats, keep, r, e, step)

  def flush(self):
    """Fetches the last recorded batch; raises on non-finite outputs."""
    if self._pending is None:
      return
    stats, keep, r, e, step = self._pending
    self._pending = None
    stats = distributed.to_host(stats)[keep]
    self._values[:, e, r] = stats.T  # NaNs too, so later scoring fails.
    bad = ~np.all(np.isfinite(stats), axis=1)
    if bad.any():
      raise ValueError(
          f'Step {step}: non-finite logits or embeddings (NaN/inf) for pool '
          f'rows {r[bad][:8].tolist()}; training diverged, so no training '
          'dynamics can be scored.')


def _jsonable(config):
  if config is None:
    return None
  if hasattr(config, 'to_dict'):  # ml_collections.ConfigDict
    config = config.to_dict()
  return json.loads(json.dumps(config, default=str))


def compute_scores(records: DynamicsRecorder | Sequence[DynamicsRecorder],
                   el2n_epochs: int = 10, grand_epochs: int | None = None,
                   epochs: int | None = None,
                   never_learned: float | None = None) -> dict[str, np.ndarray]:
  """Scores per example, each averaged over the given runs (seeds).

  EL2N and GraNd average over the first `el2n_epochs` / `grand_epochs`
  (BOSS: T0 = 10); aum, aum_prob, loss and forgetting use the first `epochs`.
  Higher = harder for el2n, grand, loss and forgetting; lower = harder
  (likely mislabeled) for aum and aum_prob.

  Forgetting (Toneva et al. 2019) counts correct -> incorrect transitions
  between consecutive epochs (the first presentation counts as following an
  incorrect one). An example never classified correctly in the window gets
  `never_learned` (default `epochs`, more than the floor(epochs / 2)
  events any learned example can have: Toneva's "infinite" forgetting, kept
  finite so it can be normalized; pass np.inf for the literal convention, or
  0 for the CCS code's).

  Args:
    records: one recorder per run over the same pool; S = len(records).
    el2n_epochs: T0 for EL2N.
    grand_epochs: window for GraNd; default `el2n_epochs`.
    epochs: window for the other scores; default every complete epoch.
    never_learned: forgetting count of never-learned examples.

  Returns:
    {'el2n', 'grand', 'forgetting', 'aum', 'aum_prob', 'loss'}: [N] float32
    each.
  """
  if isinstance(records, DynamicsRecorder):
    records = [records]
  if not records:
    raise ValueError('compute_scores needs at least one recorder.')
  if any(not np.array_equal(r.labels, records[0].labels) for r in records):
    raise ValueError('Recorders cover different pools (labels differ).')
  complete = min(r.complete_epochs for r in records)
  grand_epochs = el2n_epochs if grand_epochs is None else grand_epochs
  epochs = complete if epochs is None else epochs
  for name, t in (('el2n_epochs', el2n_epochs), ('grand_epochs', grand_epochs),
                  ('epochs', epochs)):
    if not 1 <= t <= complete:
      raise ValueError(
          f'{name}={t}, but the recorders hold {complete} complete epochs '
          '(every example seen once); pass a window in [1, '
          f'{complete}] or record more epochs.')
  never = float(epochs if never_learned is None else never_learned)
  col = {name: i for i, name in enumerate(STATS)}
  runs = []
  for r in records:
    v = r.values
    if not np.all(np.isfinite(v[:, :complete])):
      raise ValueError('Recorded statistics contain NaN/inf.')
    ok = v[col['correct'], :epochs] > 0.5
    forgot = np.sum(ok[:-1] & ~ok[1:], axis=0).astype(np.float32)
    runs.append({
        'el2n': v[col['el2n'], :el2n_epochs].mean(0),
        'grand': v[col['grand'], :grand_epochs].mean(0),
        'forgetting': np.where(ok.any(0), forgot, never),
        'aum': v[col['aum'], :epochs].mean(0),
        'aum_prob': v[col['aum_prob'], :epochs].mean(0),
        'loss': v[col['loss'], :epochs].mean(0)})
  return {k: np.mean([run[k] for run in runs], axis=0).astype(np.float32)
          for k in runs[0]}


def save(file, recorder: DynamicsRecorder):
  """Writes the per-epoch statistics and provenance as an .npz to `file`,
  an open binary file (e.g. from `rundir.atomic_write`)."""
  recorder.flush()
  prov = dict(recorder.provenance, complete_epochs=recorder.complete_epochs)
  arrays = dict(values=recorder.values, count=recorder.count,
                labels=recorder.labels, provenance=np.array(json.dumps(prov)))
  np.savez_compressed(file, **arrays)


def load(path: str) -> DynamicsRecorder:
  """Reads a file written by `save`; `.provenance` holds its metadata."""
  try:
    with epath.Path(path).open('rb') as fh, np.load(fh,
                                                    allow_pickle=False) as f:
      values, count, labels = f['values'], f['count'], f['labels']
      prov = json.loads(str(f['provenance']))
  except FileNotFoundError as e:
    raise FileNotFoundError(f'No training-dynamics file at {path!r}.') from e
  except KeyError as e:
    raise ValueError(f'{path!r} is not a training-dynamics file: {e}') from e
  if prov.get('stats') != list(STATS) or values.shape[0] != len(STATS):
    raise ValueError(f'{path!r} holds statistics {prov.get("stats")}, this '
                     f'version expects {list(STATS)}.')
  recorder = DynamicsRecorder(labels, count.shape[0])
  recorder.values, recorder.count = values, count
  recorder.provenance = prov
  return recorder
