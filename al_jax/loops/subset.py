"""The one-shot subset loop of paper 002 (section 5, Algorithm 1).

Per seed, one initial run on the whole pool (`loops.initial`: the training
dynamics of a full-length run, the features, logits and model of its epoch
T0). Then, for every method entry and every fraction f, select round(f·N)
examples, train a freshly initialized model on them from scratch (weighted
when the method gives weights) and report its test accuracy.

Parameters chosen without the test set (``subset.select_on =
'validation'``): a seeded ``subset.validation_fraction`` of the pool is held
out before anything trains (the initial run and every selection see only
the rest); an entry listed in ``subset.sweeps`` (``{entry: {option:
(values, ...)}}``) is selected and trained at every point of its grid, the
point of best validation accuracy is kept (the first on ties) and only its
test accuracy is reported. Sweeping with ``select_on='test'`` is refused:
that would choose on the test set.

Work dir layout:
  <workdir>/initial/seed_<s>/...            the initial run (`loops.initial`)
  <workdir>/<entry>/seed_<s>/subset_<i>.npz indices, weights of fraction i
                             metrics.jsonl  one row per completed fraction
                             sweep.jsonl    one row per grid point tried
  <workdir>/results.md, <workdir>/subset_accuracy.png

Every file is written atomically and a metrics row last, so a killed run
reruns with the same command, redoing only the unfinished fraction (grid
points already tried are reused). Keys: selection of fraction i uses
fold_in(seed key, 2, i) and its training fold_in(seed key, 3, i), the same
for every method and grid point, so they are compared on common random
numbers.
"""

import dataclasses
import itertools
import json
import os
import time

from etils import epath
import jax
import numpy as np
import tqdm

from al_jax import config_check
from al_jax import models
from al_jax import report
from al_jax import sharding
from al_jax import strategies
from al_jax import train
from al_jax.evaluators import accuracy
from al_jax.input import dataset
from al_jax.input import sources
from al_jax.loops import initial
from al_jax.loops import rundir
from al_jax.strategies import base

TOP_KEYS = ('job', 'seeds', 'input', 'model', 'train', 'subset')
SUBSET_KEYS = ('methods', 'fractions', 'initial_epochs', 'el2n_epochs',
               'select_on', 'validation_fraction', 'sweeps')
SELECT_ON = ('test', 'validation')
METRIC = 'test_accuracy'
# Keys a resumed run may change: more seeds, methods or fractions.
FREE_KEYS = ('seeds', 'subset.methods', 'subset.fractions',
             'train.predict_batch_size')
# Every label is known; `query` reads them (strategies.base.NEEDS).
PROVIDES = base.NEEDS
SWEEP = 'sweep.jsonl'


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
  select_on = cfg.get('select_on', 'test')
  if select_on not in SELECT_ON:
    raise ValueError(f'Unknown config.subset.select_on {select_on!r}; '
                     f'valid: {SELECT_ON}.')
  sweeps = dict(cfg.get('sweeps') or {})
  if select_on == 'validation':
    if not 0 < cfg.get('validation_fraction', 0.2) < 1:
      raise ValueError('config.subset.validation_fraction='
                       f'{cfg.validation_fraction} is not in (0, 1).')
  elif sweeps:
    raise ValueError(
        f'config.subset.sweeps ({", ".join(sweeps)}) chooses options, which '
        "needs config.subset.select_on='validation': choosing them on the "
        'test set would report a tuned test accuracy.')
  for entry in sweeps:
    if entry not in cfg.methods:
      raise ValueError(f'config.subset.sweeps.{entry}: not an entry of '
                       f'config.subset.methods {tuple(cfg.methods)}.')
    for point in grid(cfg, entry):  # Names and values, before any work.
      strategies.get(entry, cfg, f'config.subset.sweeps.{entry}', **point)


def grid(cfg, entry: str) -> list[dict]:
  """[{option: value}] the points of `entry`'s sweep, in grid order (the
  last option varies fastest); [{}] without a sweep."""
  sweep = dict((cfg.get('sweeps') or {}).get(entry) or {})
  names = list(sweep)
  return [dict(zip(names, values)) for values in
          itertools.product(*(tuple(sweep[k]) for k in names))]


def holdout(ds: sources.Dataset, fraction: float, seed: int):
  """(pool Dataset, x_val, y_val): a seeded `fraction` of the training pool
  held out for choosing options (the same split for every run seed)."""
  order = np.random.default_rng([seed, 2]).permutation(len(ds.y_train))
  val, pool = np.sort(order[:int(round(fraction * len(order)))]), np.sort(
      order[int(round(fraction * len(order))):])
  if len(val) == 0:
    raise ValueError(f'config.subset.validation_fraction={fraction} holds '
                     f'out no example of a pool of {len(order)}.')
  return (dataclasses.replace(ds, x_train=ds.x_train[pool],
                              y_train=ds.y_train[pool]),
          ds.x_train[val], ds.y_train[val])


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
                           ('subset.methods', 'subset'),
                           rundir.only_appended('subset.fractions')):
    ds = sources.load(config.input)
    dataset.require_labels(ds, 'subset')
    if ds.multilabel:
      raise ValueError('One-shot subset selection needs multi-class labels; '
                       f'{ds.name} is multi-label.')
    val = None
    if config.subset.get('select_on', 'test') == 'validation':
      ds, *val = holdout(ds, config.subset.get('validation_fraction', 0.2),
                         config.input.get('seed', 0))
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
      ctx = initial.initial_model(
          config, ds, model, mesh, seed,
          os.path.join(workdir, 'initial', f'seed_{seed}'))
      bar.update(1)
      for entry in entries:
        run_one(config, ds, model, mesh, ctx, entry, seed,
                os.path.join(workdir, entry, f'seed_{seed}'), bar, val)
    bar.close()
    return report.write_summary(
        workdir, METRIC, 'subset_accuracy.png',
        f'{config.input.source}: {config.model.name}', x='fraction',
        xlabel='subset fraction')


def _try(config, ds, model, mesh, ctx, entry, point, seed, i, budget):
  """Selects fraction i with `entry` at options `point` and trains on it:
  (Selection, state, selection seconds, train seconds)."""
  strategy = strategies.get(entry, config.subset, 'config.subset', **point)
  key = jax.random.fold_in(jax.random.fold_in(jax.random.key(seed), 2), i)
  t0 = time.perf_counter()
  view = ctx.fork()  # Its own record of queries.
  sel, _ = strategy.select(strategy.init(view), view, budget, key)
  select_seconds = time.perf_counter() - t0
  sel = base.check_selection(sel, view, budget, entry)
  t0 = time.perf_counter()
  state = train_subset(config, ds, model, mesh, sel.indices, sel.weights,
                       seed, i)
  return sel, state, select_seconds, time.perf_counter() - t0


def _choose(config, ds, model, mesh, ctx, entry, seed, i, budget, val,
            run_dir):
  """(options, the _try result of that point or None) for the grid point of
  best validation accuracy (the first on ties); every point tried is kept
  in sweep.jsonl, and the best one trained here is kept in memory, so the
  final run does not train it again (after a resume it is retrained: the
  training is deterministic)."""
  points = grid(config.subset, entry)
  if val is None or len(points) == 1:
    return points[0], None
  done = {(r['round'], json.dumps(r['options'], sort_keys=True)): r
          for r in report.read_metrics(run_dir, SWEEP)}
  best, best_score, best_run = None, -np.inf, None
  for point in points:
    row = done.get((i, json.dumps(point, sort_keys=True)))
    tried = None
    if row is None:
      tried = _try(config, ds, model, mesh, ctx, entry, point, seed, i,
                   budget)
      sel, state, sel_s, train_s = tried
      row = {'round': i, 'options': point, 'labels': len(sel.indices),
             'validation_accuracy': _accuracy(config, state, *val, mesh),
             'selection_seconds': round(sel_s, 4),
             'train_seconds': round(train_s, 3)}
      report.append_metrics(run_dir, row, SWEEP)
    if row['validation_accuracy'] > best_score:
      best, best_score, best_run = point, row['validation_accuracy'], tried
  return best, best_run


def _accuracy(config, state, x, y, mesh) -> float:
  logits, _ = train.predict(state, x, mesh,
                            config.train.get('predict_batch_size', 1024))
  return accuracy.accuracy(logits, y)


def run_one(config, ds, model, mesh, ctx: base.Context, entry: str,
            seed: int, run_dir: str, bar: tqdm.tqdm,
            val: tuple[np.ndarray, np.ndarray] | None = None) -> list[dict]:
  """One method entry, one seed, every fraction; resumes from `run_dir`.

  val: (x_val, y_val) held out of the pool when options are chosen on
  validation (module doc), else None.
  """
  epath.Path(run_dir).mkdir(parents=True, exist_ok=True)
  rows = [r for i, r in enumerate(report.read_metrics(run_dir))
          if r['round'] == i]
  report.write_metrics(run_dir, rows)
  bar.update(len(rows))
  n = len(ds.y_train)
  for i in range(len(rows), len(config.subset.fractions)):
    fraction = float(config.subset.fractions[i])
    bar.set_description(f'{entry} seed {seed} fraction {fraction:g}')
    budget = budget_of(fraction, n)
    point, tried = _choose(config, ds, model, mesh, ctx, entry, seed, i,
                           budget, val, run_dir)
    sel, state, select_seconds, train_seconds = tried or _try(
        config, ds, model, mesh, ctx, entry, point, seed, i, budget)
    rundir.atomic_write(
        os.path.join(run_dir, f'subset_{i}.npz'), lambda f, s=sel: np.savez(
            f, indices=s.indices, fraction=fraction,
            weights=np.zeros(0) if s.weights is None else s.weights))
    score = _accuracy(config, state, ds.x_test, ds.y_test, mesh)
    row = {'round': i, 'fraction': fraction, 'labels': len(sel.indices),
           METRIC: score, 'selection_seconds': round(select_seconds, 4),
           'train_seconds': round(train_seconds, 3), 'strategy': entry,
           'method': strategies.method_of(
               entry, config.subset.get(entry) or {}),
           'seed': seed, 'notes': list(sel.notes)}
    if val is not None:
      row.update(options=point,
                 validation_accuracy=_accuracy(config, state, *val, mesh))
    report.append_metrics(run_dir, row)
    rows.append(row)
    bar.update(1)
    bar.write(f'{entry} seed {seed} fraction {fraction:g}: '
              f'{len(sel.indices)} examples, {METRIC} {score:.4f}'
              + (f' at {point}' if point else '') + ', selection '
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
  cost of a run that was resumed): initial models, every point a sweep
  tried, and every fraction that was not swept (a swept fraction's final
  row reuses its best point's run)."""
  total = 0.0
  for path in epath.Path(workdir).glob('initial/seed_*/initial.json'):
    total += json.loads(path.read_text())['train_seconds']
  for path in epath.Path(workdir).glob(f'*/seed_*/{report.METRICS}'):
    run_dir = str(path.parent)
    tried = report.read_metrics(run_dir, SWEEP)
    swept = {r['round'] for r in tried}
    total += sum(r['train_seconds'] + r['selection_seconds']
                 for r in tried + [r for r in report.read_metrics(run_dir)
                                   if r['round'] not in swept])
  return total
