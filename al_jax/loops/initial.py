"""The initial run of the one-shot subset loop (paper 002 section 4,
Algorithm 1 lines 3-4, appendix D).

Per seed, a model trains on the whole pool for ``subset.initial_epochs`` (E)
epochs with ``config.train``'s optimizer and a schedule that spans all E
epochs (the full-length run, 200 epochs on CIFAR), recording its training
dynamics (`scores.dynamics`) from the train steps themselves. When its first
``subset.el2n_epochs`` (T0) epochs are complete
(`dynamics.steps_to_complete`: after ceil(T0·N / B) steps, so the last
batch may hold a few presentations of epoch T0) the run is snapshotted:
one eval-mode predict of the pool gives the penultimate features and logits
(Algorithm 1 line 4, "from θ_V obtain x_i for epoch T0"), and that model is
the one handed to methods that need it; the run then goes on to epoch E.
Methods see, through ``ctx.scores``: 'el2n' and 'grand' averaged over
epochs [0, T0); 'aum', 'aum_prob' (logit / probability margin), 'loss' and
'forgetting' over all E epochs (appendix D ranks the cutoff by AUM).

Files, in ``<workdir>/initial/seed_<s>/``: dynamics.npz (per-epoch
statistics of all E epochs + provenance), outputs.npz (features [N, D],
logits [N, C]) and model/ (both at T0), initial.json (test accuracy at T0
and at E, step counts, the run's config; written last, so a killed run
retrains). A stored run that another config trained is refused, naming the
key (`initial_run_config`). The run uses fold_in(seed key, 1).

Departures: the features and logits are eval-mode predictions of the
snapshot (the authors' code logs train-mode ones during epoch T0); AUM is
the mean margin over the run, not its sum (the same ranking); and each
seed trains its own initial run (the authors share one across their five
runs).
"""

import json
import os
import time

from etils import epath
import jax
import ml_collections
import numpy as np

from al_jax import checkpoints
from al_jax import distributed
from al_jax import optim
from al_jax import strategies
from al_jax import train
from al_jax.evaluators import accuracy
from al_jax.loops import rundir
from al_jax.scores import dynamics
from al_jax.strategies import base

METRIC = 'test_accuracy'
# Keys the initial run does not read: its length is subset.initial_epochs.
_NOT_INITIAL = ('train.epochs', 'train.steps', 'train.predict_batch_size')


def initial_run_config(config) -> dict:
  """The config keys that determine a seed's initial run and its snapshot,
  flattened ({'train.learning_rate': 0.1, 'subset.initial_epochs': 200,
  ...}): everything in input, model and train except what the initial run
  ignores (`_NOT_INITIAL`), plus E and T0."""
  run = {f'subset.{k}': int(config.subset[k])
         for k in ('initial_epochs', 'el2n_epochs')}
  for section in ('input', 'model', 'train'):
    for k, v in json.loads(config[section].to_json_best_effort()).items():
      if f'{section}.{k}' not in _NOT_INITIAL:
        run[f'{section}.{k}'] = v
  return run


def _check_initial(info: dict, config, out_dir: str):
  """Refuses a stored initial run that another config trained."""
  if 'run' not in info:
    raise ValueError(
        f'{out_dir} holds an initial run of an older al_jax: a separate run '
        f'of {info["epochs"]} epochs with outputs from its end, not a '
        'snapshot at epoch subset.el2n_epochs of a run of '
        'subset.initial_epochs. Delete that directory to retrain it, or use '
        'a new --workdir.')
  old, new = info['run'], initial_run_config(config)
  diff = [f'config.{k}={new.get(k, "(absent)")!r} (the stored run: '
          f'{old.get(k, "(absent)")!r})'
          for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
  if diff:
    raise ValueError(f'{out_dir} holds an initial run of another config: '
                     f'{"; ".join(diff)}. Restore those values or use a new '
                     '--workdir.')


def initial_model(config, ds, model, mesh, seed: int,
                  out_dir: str) -> base.Context:
  """Trains (or reloads) the initial run of `seed` (module doc); returns the
  Context every method selects from: all items candidates, every label
  known, the snapshot's outputs and (lazily) model, the training-dynamics
  scores."""
  dyn_path = os.path.join(out_dir, 'dynamics.npz')
  out_path = os.path.join(out_dir, 'outputs.npz')
  info_path = os.path.join(out_dir, 'initial.json')
  model_dir = rundir.absolute(os.path.join(out_dir, 'model'))
  epochs, t0 = config.subset.initial_epochs, config.subset.el2n_epochs
  cfg = ml_collections.ConfigDict(config.train.to_dict())
  cfg.epochs = epochs
  cfg.steps = None
  key = jax.random.fold_in(jax.random.key(seed), 1)
  n = len(ds.y_train)
  if not all(epath.Path(p).exists() for p in (dyn_path, out_path, info_path)):
    epath.Path(out_dir).mkdir(parents=True, exist_ok=True)
    snap_step = dynamics.steps_to_complete(t0, n, cfg.get('batch_size', 64))
    recorder = dynamics.DynamicsRecorder(ds.y_train, epochs, config=config,
                                         seed=seed)
    recorder.provenance.update(snapshot_epoch=t0, snapshot_step=snap_step)
    bs = config.train.get('predict_batch_size', 1024)
    snap = {}

    def snapshot(steps, state):  # Before the next step donates `state`.
      if steps != snap_step:
        return
      logits, features = train.predict(state, ds.x_train, mesh, bs)
      snap['test_logits'] = train.predict(state, ds.x_test, mesh, bs)[0]
      checkpoints.save_variables(model_dir, state)
      rundir.atomic_write(out_path, lambda f: np.savez(
          f, features=features, logits=logits))

    t_start = time.perf_counter()
    state = train.fit(cfg, model, ds.x_train, ds.y_train, np.arange(n), key,
                      mesh, on_batch=recorder, on_step=snapshot)
    seconds = time.perf_counter() - t_start
    final_logits, _ = train.predict(state, ds.x_test, mesh, bs)
    recorder.flush()  # On every process: fetching the last batch gathers.
    rundir.atomic_write(dyn_path, lambda f: dynamics.save(f, recorder))
    info = {'seed': seed, 'epochs': epochs, 'snapshot_epoch': t0,
            'snapshot_step': snap_step, 'steps': train.num_steps(cfg, n),
            METRIC: accuracy.accuracy(snap['test_logits'], ds.y_test),
            f'final_{METRIC}': accuracy.accuracy(final_logits, ds.y_test),
            'train_seconds': round(seconds, 3),
            'run': initial_run_config(config)}
    rundir.atomic_write(info_path, lambda f: f.write(json.dumps(info)), 'w')
  distributed.barrier('initial model written')  # Process 0 wrote; all read.
  _check_initial(json.loads(epath.Path(info_path).read_text()), config,
                 out_dir)
  with epath.Path(out_path).open('rb') as f, np.load(f) as z:
    features, logits = z['features'], z['logits']
  scores = dynamics.compute_scores(dynamics.load(dyn_path), el2n_epochs=t0,
                                   epochs=epochs)

  def initial_state():
    state = checkpoints.restore_variables(model_dir, train.create_state(
        model, ds.x_train.shape[1:], optim.make_optimizer(cfg), key))
    return base.Model(state.apply_fn, {'params': state.params,
                                       'batch_stats': state.batch_stats},
                      inputs=lambda idx: ds.x_train[idx])

  return strategies.Context(
      np.ones(n, bool), labels=ds.y_train, num_classes=ds.num_classes,
      outputs=lambda: (logits, features), scores=scores, model=initial_state,
      query=lambda idx: ds.y_train[idx], mesh=mesh)
