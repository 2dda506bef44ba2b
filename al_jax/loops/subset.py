"""The one-shot subset loop of paper 002 (section 5, Algorithm 1).

Per seed, one initial run: a model trains on the whole pool for
``subset.initial_epochs`` (E) epochs with ``config.train``'s optimizer and a
schedule that spans all E epochs (section 4, appendix D: the full-length
run, 200 epochs on CIFAR), recording its training dynamics
(`scores.dynamics`) from the train steps themselves. When its first
``subset.el2n_epochs`` (T0) epochs are complete
(`dynamics.steps_to_complete`: after ceil(T0·N / B) steps, so the last
batch may hold a few presentations of epoch T0) the run is snapshotted:
one eval-mode predict of the pool gives the penultimate features and logits
(Algorithm 1 line 4, "from θ_V obtain x_i for epoch T0"), and that model is
the one handed to methods that need it; the run then goes on to epoch E.
The methods see, through ``ctx.scores``: 'el2n' and 'grand' averaged over
epochs [0, T0); 'aum', 'aum_prob' (logit / probability margin), 'loss' and
'forgetting' over all E epochs (appendix D ranks the cutoff by AUM). Then, for
every method entry and every fraction f, select round(f·N) examples, train
a freshly initialized model on them from scratch (weighted when the method
gives weights) and report its test accuracy.

Work dir layout:
  <workdir>/initial/seed_<s>/dynamics.npz   per-epoch statistics of all E
                                            epochs + provenance
                             outputs.npz    features [N, D], logits [N, C]
                             model/         variables (for methods that
                                            need the model), both at T0
                             initial.json   test accuracy at T0 and at E,
                                            step counts, the run's config
  <workdir>/<entry>/seed_<s>/subset_<i>.npz indices, weights of fraction i
                             metrics.jsonl  one row per completed fraction
  <workdir>/results.md, <workdir>/subset_accuracy.png

Every file is written atomically and a metrics row (initial.json) last, so
a killed run reruns with the same command, redoing only the unfinished
fraction (or initial run); the initial run is trained once per seed, shared
by all methods, and refused, naming the key, if the config changed it
(`initial_run_config`). Keys: the initial run uses fold_in(seed key, 1);
selection of fraction i fold_in(seed key, 2, i) and its training
fold_in(seed key, 3, i), the same for every method, so methods are compared
on common random numbers.

Departures: the features and logits are eval-mode predictions of the
snapshot (the authors' code logs train-mode ones during epoch T0); AUM is
the mean margin over the run, not its sum (the same ranking); and each
seed trains its own initial run (the authors share one across their five
runs).
"""

import glob
import json
import os
import time

import jax
import ml_collections
import numpy as np
import tqdm

from al_jax import config_check
from al_jax import models
from al_jax import optim
from al_jax import report
from al_jax import sharding
from al_jax import strategies
from al_jax import train
from al_jax.evaluators import accuracy
from al_jax.input import sources
from al_jax.loops import rundir
from al_jax.scores import dynamics
from al_jax.strategies import base

TOP_KEYS = ('job', 'seeds', 'input', 'model', 'train', 'subset')
SUBSET_KEYS = ('methods', 'fractions', 'initial_epochs', 'el2n_epochs')
METRIC = 'test_accuracy'
# Keys a resumed run may change: more seeds, methods or fractions.
FREE_KEYS = ('seeds', 'subset.methods', 'subset.fractions',
             'train.predict_batch_size')
# Every label is known; `query` reads them (strategies.base.NEEDS).
PROVIDES = base.NEEDS
# Keys the initial run does not read: its length is subset.initial_epochs.
_NOT_INITIAL = ('train.epochs', 'train.steps', 'train.predict_batch_size')


def check_config(config):
  """Validates names, options and fractions before any work starts."""
  config_check.check_keys(config, TOP_KEYS, 'config')
  train.check_config(config.train)
  config_check.check_keys(config.input, sources.INPUT_KEYS, 'config.input')
  cfg = config.subset
  strategies.check_section(cfg, 'methods', SUBSET_KEYS, 'subset', PROVIDES,
                           'config.subset')
  for f in cfg.fractions:
    if not 0 < f <= 1:
      raise ValueError(f'config.subset.fractions: {f} is not in (0, 1].')
  if not 1 <= cfg.el2n_epochs <= cfg.initial_epochs:
    raise ValueError(
        f'Need 1 <= config.subset.el2n_epochs ({cfg.el2n_epochs}) <= '
        f'config.subset.initial_epochs ({cfg.initial_epochs}).')


def budget_of(fraction: float, pool_size: int) -> int:
  budget = int(round(fraction * pool_size))
  if budget < 1:
    raise ValueError(f'fraction {fraction} of a pool of {pool_size} selects '
                     'no example.')
  return budget


def run(config, workdir: str) -> dict:
  """Runs every method entry x fraction x seed; returns the summary.

  The work dir is locked while it runs; rerunning it resumes, with more
  seeds, methods or fractions if the config asks (`FREE_KEYS`).
  """
  check_config(config)
  with rundir.open_workdir(workdir, config, FREE_KEYS,
                           ('subset.methods', 'subset'), _fractions_only_grow):
    ds = sources.load(config.input)
    if ds.multilabel:
      raise ValueError('One-shot subset selection needs multi-class labels; '
                       f'{ds.name} is multi-label.')
    for f in config.subset.fractions:
      budget_of(f, len(ds.y_train))
    model = models.from_config(config.model, ds.num_classes)
    mesh = sharding.make_mesh()
    entries, fractions = config.subset.methods, config.subset.fractions
    bar = tqdm.tqdm(total=len(config.seeds) * (1 + len(entries) *
                                               len(fractions)),
                    unit='run', dynamic_ncols=True)
    for seed in config.seeds:
      seed = int(seed)
      bar.set_description(f'initial model seed {seed}')
      ctx = initial_model(config, ds, model, mesh, seed,
                          os.path.join(workdir, 'initial', f'seed_{seed}'))
      bar.update(1)
      for entry in entries:
        run_one(config, ds, model, mesh, ctx, entry, seed,
                os.path.join(workdir, entry, f'seed_{seed}'), bar)
    bar.close()
    return report.write_summary(
        workdir, METRIC, 'subset_accuracy.png',
        f'{config.input.source}: {config.model.name}', x='fraction',
        xlabel='subset fraction')


def _fractions_only_grow(old: dict, new: dict):
  before, now = old['subset.fractions'], new['subset.fractions']
  if list(now[:len(before)]) != list(before):
    raise ValueError(
        f'config.subset.fractions={tuple(now)}, but the work dir holds runs of '
        f'{tuple(before)}: fractions may be appended, not changed. Use a new '
        '--workdir.')


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
  model_dir = os.path.abspath(os.path.join(out_dir, 'model'))
  epochs, t0 = config.subset.initial_epochs, config.subset.el2n_epochs
  cfg = ml_collections.ConfigDict(config.train.to_dict())
  cfg.epochs = epochs
  cfg.steps = None
  key = jax.random.fold_in(jax.random.key(seed), 1)
  n = len(ds.y_train)
  if not all(map(os.path.exists, (dyn_path, out_path, info_path))):
    os.makedirs(out_dir, exist_ok=True)
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
      train.save_variables(model_dir, state)
      rundir.atomic_write(out_path, lambda f: np.savez(
          f, features=features, logits=logits))

    t_start = time.perf_counter()
    state = train.fit(cfg, model, ds.x_train, ds.y_train, np.arange(n), key,
                      mesh, on_batch=recorder, on_step=snapshot)
    seconds = time.perf_counter() - t_start
    final_logits, _ = train.predict(state, ds.x_test, mesh, bs)
    dynamics.save(dyn_path + '.tmp', recorder)
    os.replace(dyn_path + '.tmp', dyn_path)  # Atomic.
    info = {'seed': seed, 'epochs': epochs, 'snapshot_epoch': t0,
            'snapshot_step': snap_step, 'steps': train.num_steps(cfg, n),
            METRIC: accuracy.accuracy(snap['test_logits'], ds.y_test),
            f'final_{METRIC}': accuracy.accuracy(final_logits, ds.y_test),
            'train_seconds': round(seconds, 3),
            'run': initial_run_config(config)}
    rundir.atomic_write(info_path, lambda f: f.write(json.dumps(info)), 'w')
  with open(info_path) as f:
    _check_initial(json.load(f), config, out_dir)
  with np.load(out_path) as f:
    features, logits = f['features'], f['logits']
  scores = dynamics.compute_scores(dynamics.load(dyn_path), el2n_epochs=t0,
                                   epochs=epochs)

  def initial_state():
    state = train.restore_variables(model_dir, train.create_state(
        model, ds.x_train.shape[1:], optim.make_optimizer(cfg), key))
    return base.Model(state.apply_fn, {'params': state.params,
                                       'batch_stats': state.batch_stats})

  return strategies.Context(
      np.ones(n, bool), labels=ds.y_train, num_classes=ds.num_classes,
      outputs=lambda: (logits, features), scores=scores, model=initial_state,
      query=lambda idx: ds.y_train[idx], mesh=mesh)


def run_one(config, ds, model, mesh, ctx: base.Context, entry: str,
            seed: int, run_dir: str, bar: tqdm.tqdm) -> list[dict]:
  """One method entry, one seed, every fraction; resumes from `run_dir`."""
  os.makedirs(run_dir, exist_ok=True)
  rows = [r for i, r in enumerate(report.read_metrics(run_dir))
          if r['round'] == i]
  report.write_metrics(run_dir, rows)
  bar.update(len(rows))
  strategy = strategies.get(entry, config.subset, 'config.subset')
  key = jax.random.key(seed)
  n = len(ds.y_train)
  for i in range(len(rows), len(config.subset.fractions)):
    fraction = float(config.subset.fractions[i])
    bar.set_description(f'{entry} seed {seed} fraction {fraction:g}')
    budget = budget_of(fraction, n)
    path = os.path.join(run_dir, f'subset_{i}.npz')
    t0 = time.perf_counter()
    view = ctx.fork()  # Its own record of queries.
    sel, _ = strategy.select(strategy.init(view), view, budget,
                             jax.random.fold_in(jax.random.fold_in(key, 2), i))
    select_seconds = time.perf_counter() - t0
    sel = base.check_selection(sel, view, budget, entry)
    idx = sel.indices
    rundir.atomic_write(path, lambda f, s=sel: np.savez(
        f, indices=s.indices, fraction=fraction,
        weights=np.zeros(0) if s.weights is None else s.weights))
    t0 = time.perf_counter()
    state = train_subset(config, ds, model, mesh, idx, sel.weights, seed, i)
    train_seconds = time.perf_counter() - t0
    test_logits, _ = train.predict(
        state, ds.x_test, mesh, config.train.get('predict_batch_size', 1024))
    score = accuracy.accuracy(test_logits, ds.y_test)
    row = {'round': i, 'fraction': fraction, 'labels': len(idx),
           METRIC: score, 'selection_seconds': round(select_seconds, 4),
           'train_seconds': round(train_seconds, 3), 'strategy': entry,
           'method': strategies.method_of(
               entry, config.subset.get(entry) or {}),
           'seed': seed, 'notes': list(sel.notes)}
    report.append_metrics(run_dir, row)
    rows.append(row)
    bar.update(1)
    bar.write(f'{entry} seed {seed} fraction {fraction:g}: {len(idx)} '
              f'examples, {METRIC} {score:.4f}, selection '
              f'{select_seconds:.2f}s, train {train_seconds:.1f}s')
  return rows


def train_subset(config, ds, model, mesh, idx: np.ndarray,
                 weights: np.ndarray | None, seed: int, i: int):
  """The fresh model trained on subset `idx` of fraction `i` for `seed`.

  Deterministic in (seed, i): rerunning it (e.g. to plot the decision
  boundary of a finished run) gives the model the loop scored.
  """
  key = jax.random.fold_in(jax.random.fold_in(jax.random.key(seed), 3), i)
  return train.fit(config.train, model, ds.x_train, ds.y_train, idx, key,
                   mesh, weights=weights)


def compute_seconds(workdir: str) -> float:
  """Seconds of training and selection recorded in `workdir` (so also the
  cost of a run that was resumed): initial models plus every fraction."""
  total = 0.0
  for path in glob.glob(os.path.join(workdir, 'initial', 'seed_*',
                                     'initial.json')):
    with open(path) as f:
      total += json.load(f)['train_seconds']
  for path in glob.glob(os.path.join(workdir, '*', 'seed_*',
                                     report.METRICS)):
    total += sum(r['train_seconds'] + r['selection_seconds']
                 for r in report.read_metrics(os.path.dirname(path)))
  return total
