"""The trimming job (paper 004, Algorithm 3 and Fig. 6): train → score →
remove b rows → retrain from scratch → test, for every b of
``trim.removals``, per seed and method.

Per seed the data are a fresh draw (`input.trim_data`); the model
(``config.model``: 'logreg' or 'mlp', float64 `influence.tabular`) is
trained on all training rows to a stationary point of mean loss +
(wd/2)‖θ‖² (``trim.weight_decay``), whose ‖∇R(θ̂)‖ every row reports
(`base_grad_norm`, and `grad_norm` of the retrained model). Each entry of
``trim.methods`` (a strategy that picks the rows to remove: 'fi_util',
'iv', 'random', ...) scores once per seed and removes its b first picks;
'random' entries average ``trim.random_draws`` draws (5, as the paper's
random trimming); b = 0 is the untrimmed model. The retrained model starts
from the same initialisation for every b and method; ``model.max_iter``
caps L-BFGS's iterations (default 5000). With ``trim.perturb_variance`` > 0
the picked rows are kept but get white noise of that variance on every
feature before the retrain (appendix E.2, Table 7: noise on the top-b or
bottom-b FI rows).

Work dir: <workdir>/<entry>/seed_<s>/metrics.jsonl (one row per b, written
as each finishes: a killed run resumes at the next b), results.md and
trim_accuracy.png. Keys: data seed s; the model's initialisation
fold_in(key(s), 0); random draw r of b's selection fold_in(key(s), 1, i, r);
its noise numpy's default_rng((s, i, r)).

Dimensions: n training rows, d features, b removed rows.
"""

import os
import time

from etils import epath
import jax
import numpy as np
import tqdm

from al_jax import config_check
from al_jax import report
from al_jax import strategies
from al_jax.influence import tabular
from al_jax.input import trim_data
from al_jax.loops import rundir
from al_jax.strategies import base

TOP_KEYS = ('job', 'seeds', 'input', 'model', 'trim')
SECTION_KEYS = ('methods', 'removals', 'weight_decay', 'random_draws',
                'perturb_variance')
MODEL_KEYS = ('name', 'widths', 'intercept', 'max_iter')
MODELS = ('logreg', 'mlp')
METRIC = 'test_accuracy'
FREE_KEYS = ('seeds', 'trim.methods', 'trim.removals')
PROVIDES = (base.MODEL, base.LABELS, base.VALIDATION, base.EMBEDDINGS,
            base.LOGITS, base.CHOSEN)


def check_config(config):
  """Validates names, options and removals before any data is drawn."""
  config_check.check_keys(config, TOP_KEYS, 'config')
  trim_data.check(config.input)
  config_check.check_keys(config.model, MODEL_KEYS, 'config.model')
  if config.model.get('name') not in MODELS:
    raise ValueError(f'Unknown config.model.name {config.model.get("name")!r}'
                     f' for the trimming job; valid: {MODELS}.')
  cfg = config.trim
  strategies.check_section(cfg, 'methods', SECTION_KEYS, 'trim', PROVIDES,
                           'config.trim')
  removals = list(cfg.removals)
  for b in removals:
    if int(b) != b or b < 0:
      raise ValueError(f'config.trim.removals: {b} is not a number of rows.')
  if removals != sorted(set(removals)):
    raise ValueError(f'config.trim.removals {removals} must increase.')
  if not cfg.get('perturb_variance', 0.) >= 0:
    raise ValueError('config.trim.perturb_variance='
                     f'{cfg.get("perturb_variance")} must be ≥ 0.')


def make_model(cfg, d: int, num_classes: int) -> tabular.Tabular:
  if cfg.name == 'logreg':
    return tabular.logistic_regression(d, bool(cfg.get('intercept', True)))
  return tabular.mlp(d, tuple(int(w) for w in cfg.get('widths', (16, 16))),
                     num_classes)


def accuracy(model, theta, x, y) -> float:
  logits, _ = tabular.apply_function(model)({'params': theta}, x)
  return float(np.mean(np.argmax(np.asarray(logits), 1) == y))


def accuracies(workdir: str, entry: str) -> dict[int, dict[int, float]]:
  """{seed: {b: test accuracy}} of one method entry's finished rows."""
  return {seed: {r['removed']: r[METRIC] for r in rows}
          for seed, rows in report.seed_rows(workdir, entry).items()}


def retrain_rows(data: trim_data.TrimData, picked: np.ndarray,
                 perturb: float, noise_seed: tuple) -> tuple:
  """(x, y) to retrain on: without the picked rows, or (perturb > 0) with
  white noise of variance `perturb` added to them."""
  if not perturb:
    keep = np.setdiff1d(np.arange(len(data.y_train)), picked)
    return data.x_train[keep], data.y_train[keep]
  x = data.x_train.copy()
  x[picked] += np.sqrt(perturb) * np.random.default_rng(
      noise_seed).standard_normal((len(picked), x.shape[1]))
  return x, data.y_train


def run(config, workdir: str) -> dict:
  """Runs every method × removal × seed; returns the accuracy summary."""
  check_config(config)
  with rundir.open_workdir(workdir, config, FREE_KEYS, ('trim.methods', 'trim'),
                           rundir.only_appended('trim.removals')):
    cfg = config.trim
    bar = tqdm.tqdm(total=len(cfg.methods) * len(config.seeds) *
                    len(cfg.removals), unit='b', dynamic_ncols=True)
    for seed in config.seeds:
      run_seed(config, int(seed), workdir, bar)
    bar.close()
    return report.write_summary(
        workdir, METRIC, 'trim_accuracy.png',
        f'{config.input.source}: {config.model.name}, trimming', x='removed',
        xlabel='training rows removed')


def run_seed(config, seed: int, workdir: str, bar: tqdm.tqdm):
  """Every method entry and removal of one seed (resuming finished ones)."""
  cfg = config.trim
  wd = float(cfg.get('weight_decay', 0.))
  perturb = float(cfg.get('perturb_variance', 0.))
  data = trim_data.load(config.input, seed)
  model = make_model(config.model, data.x_train.shape[1], data.num_classes)
  key = jax.random.key(seed)
  init_key = jax.random.fold_in(key, 0)
  fit = lambda x, y: tabular.fit(model, x, y, wd, init_key,
                                 max_iter=int(config.model.get('max_iter',
                                                               5000)))
  fitted = {}

  def base_fit():  # Only when some entry has a removal left.
    if not fitted:
      fitted['theta'], fitted['grad_norm'] = fit(data.x_train, data.y_train)
    return fitted['theta']

  ctx = base.Context(
      np.ones(len(data.y_train), bool), labels=data.y_train,
      num_classes=data.num_classes,
      outputs=lambda: tuple(np.asarray(a) for a in tabular.apply_function(
          model)({'params': base_fit()}, data.x_train)),
      model=lambda: base.Model(tabular.apply_function(model),
                               {'params': base_fit()},
                               lambda rows: data.x_train[rows], wd),
      validation=lambda: (data.x_val, data.y_val))
  n = len(data.y_train)
  for entry in cfg.methods:
    run_dir = os.path.join(workdir, entry, f'seed_{seed}')
    epath.Path(run_dir).mkdir(parents=True, exist_ok=True)
    rows = [r for i, r in enumerate(report.read_metrics(run_dir))
            if r['round'] == i]
    report.write_metrics(run_dir, rows)
    bar.update(len(rows))
    strategy = strategies.get(entry, cfg, 'config.trim')
    method = strategies.method_of(entry, cfg.get(entry) or {})
    draws = int(cfg.get('random_draws', 5)) if method == 'random' else 1
    state = None
    for i in range(len(rows), len(cfg.removals)):
      b = int(cfg.removals[i])
      if b >= n - 1:
        raise ValueError(f'config.trim.removals: removing {b} of {n} '
                         'training rows leaves too few.')
      bar.set_description(f'{entry} seed {seed} b {b}')
      accs, norms, notes, t0 = [], [], (), time.perf_counter()
      for r in range(draws if b else 1):  # b = 0: the untrimmed model.
        if b:
          if state is None:
            state = strategy.init(ctx)
          sel, state = strategy.select(state, ctx, b, jax.random.fold_in(
              jax.random.fold_in(jax.random.fold_in(key, 1), i), r))
          notes = sel.notes
          x, y = retrain_rows(data, base.check_selection(
              sel, ctx, b, entry).indices, perturb, (seed, i, r))
          theta, norm = fit(x, y)
        else:
          theta, norm = base_fit(), fitted['grad_norm']
        accs.append(accuracy(model, theta, data.x_test, data.y_test))
        norms.append(norm)
      base_fit()  # Its ‖∇R‖ goes in every row (random needs no model).
      row = {'round': i, 'removed': b, METRIC: float(np.mean(accs)),
             'grad_norm': float(max(norms)),
             'base_grad_norm': fitted['grad_norm'], 'draws': len(accs),
             'seconds': round(time.perf_counter() - t0, 3),
             'strategy': entry, 'method': method, 'seed': seed,
             'notes': list(notes)}
      report.append_metrics(run_dir, row)
      bar.update(1)
