"""The label-free job (paper 003): features in, a budget of m labels out.

Nothing is known before the selection: a method sees only the pool's frozen
features (`al_jax.features`), never a label. Per seed, method entry and
budget m (``label_free.budgets``), the method picks m pool items, the m
labels are bought from the oracle (the same `ledger.Oracle` and ledger file
as the active loop, so a person can answer them), a downstream model is
trained on them and scored on the test set. Every budget is an independent
selection (paper 003 selects once per budget, not incrementally).

Downstream (``label_free.downstream``): 'linear_probe' (default; the
authors' linear evaluation on the frozen features, scaled down:
`evaluators.linear_probe`, options in ``label_free.probe``) or 'model'
(``config.model`` trained from scratch on the raw inputs, as the one-shot
subset job does) or 'fixmatch' (``config.model`` trained by
`semisup.fixmatch` on the bought labels plus the whole pool unlabelled,
options in ``label_free.fixmatch``; paper 003's semi-supervised numbers).

Work dir layout:
  <workdir>/features/features.npz            the features (cached)
  <workdir>/<entry>/seed_<s>/ledger_<i>.npz  labels bought for budget i
                             ledger_<i>.npz.selection.npz  its selection
                             metrics.jsonl   one row per finished budget
  <workdir>/results.md, <workdir>/label_free_accuracy.png

A ledger is written as soon as its labels are bought and its metrics row
once the downstream model is scored: a killed run reruns with the same
command, reusing every bought label (a budget whose ledger exists is never
selected or bought again). Keys: the selection of budget i uses
fold_in(seed key, 2, i), its training fold_in(seed key, 3, i), the same for
every method.
"""

import functools
import os
import time

from etils import epath
import jax
import numpy as np
import tqdm

from al_jax import config_check
from al_jax import distributed
from al_jax import features as features_lib
from al_jax import models
from al_jax import report
from al_jax import sharding
from al_jax import strategies
from al_jax import train
from al_jax.evaluators import accuracy
from al_jax.evaluators import linear_probe
from al_jax.input import ledger as ledger_lib
from al_jax.input import sources
from al_jax.input.pool_id import PoolId
from al_jax.labeling import oracle as oracle_lib
from al_jax.loops import rundir
from al_jax.semisup import fixmatch
from al_jax.strategies import base

TOP_KEYS = ('job', 'seeds', 'input', 'features', 'label_free', 'model',
            'train')
SECTION_KEYS = ('methods', 'budgets', 'downstream', 'probe', 'fixmatch')
DOWNSTREAM = ('linear_probe', 'model', 'fixmatch')
METRIC = 'test_accuracy'
FREE_KEYS = ('seeds', 'label_free.methods', 'label_free.budgets',
             'train.predict_batch_size')
# A label-free method sees the features, and nothing is chosen before it;
# with SimCLR features also the encoder and the images (`encoder_model`).
PROVIDES = (base.EMBEDDINGS, base.CHOSEN)


def check_config(config):
  """Validates names, options and budgets before any data loads (an
  embeddings file or encoder checkpoint that does not exist included)."""
  config_check.check_keys(config, TOP_KEYS, 'config')
  config_check.check_keys(config.input, sources.INPUT_KEYS, 'config.input')
  features_lib.check(config.features)
  cfg = config.label_free
  provides = PROVIDES + ((base.MODEL,) if config.features.source == 'simclr'
                        else ())
  strategies.check_section(cfg, 'methods', SECTION_KEYS, 'label_free',
                           provides, 'config.label_free')
  for m in cfg.budgets:
    if int(m) != m or m < 1:
      raise ValueError(f'config.label_free.budgets: {m} is not a positive '
                       'number of labels.')
  downstream = cfg.get('downstream', 'linear_probe')
  if downstream not in DOWNSTREAM:
    raise ValueError(f'Unknown config.label_free.downstream {downstream!r}; '
                     f'valid: {DOWNSTREAM}.')
  if downstream == 'model':
    for key in ('model', 'train'):
      if key not in config:
        raise ValueError(f"config.label_free.downstream='model' needs "
                         f'config.{key}.')
    train.check_config(config.train)
  if downstream == 'fixmatch' and 'model' not in config:
    raise ValueError("config.label_free.downstream='fixmatch' needs "
                     'config.model.')
  config_check.check_keys(cfg.get('fixmatch') or {}, tuple(fixmatch.OPTIONS),
                          'config.label_free.fixmatch')
  config_check.check_keys(cfg.get('probe') or {}, tuple(linear_probe.OPTIONS),
                          'config.label_free.probe')


def run(config, workdir: str,
        labels: oracle_lib.Options = oracle_lib.Options()) -> dict:
  """Runs every method entry x budget x seed; returns the accuracy summary.

  The work dir is locked while it runs; rerunning it resumes, with more
  seeds, methods or budgets if the config asks (`FREE_KEYS`). With people
  as the oracle (`labels`), every selection is made and its questions
  exported; the job then raises `oracle.WaitingForLabels`.
  """
  check_config(config)
  with rundir.open_workdir(workdir, config, FREE_KEYS,
                           ('label_free.methods', 'label_free'),
                           rundir.only_appended('label_free.budgets')):
    ds = sources.load(config.input)
    if ds.multilabel:
      raise ValueError('The label-free job needs multi-class labels; '
                       f'{ds.name} is multi-label.')
    for m in config.label_free.budgets:
      if m > len(ds.y_train):
        raise ValueError(f'config.label_free.budgets: {m} labels from a pool '
                         f'of {len(ds.y_train)}.')
    pool_id = PoolId.of(ds)
    source = oracle_lib.Source(labels, workdir, ds, pool_id, False)
    feats = features_lib.compute(config.features, ds,
                                 os.path.join(workdir, 'features'))
    mesh = sharding.make_mesh()
    cfg = config.label_free
    bar = tqdm.tqdm(total=len(cfg.methods) * len(config.seeds) *
                    len(cfg.budgets), unit='budget', dynamic_ncols=True)
    ctx = base.Context(np.ones(len(ds.y_train), bool),
                       num_classes=ds.num_classes,
                       outputs=lambda: (None, feats[0]), mesh=mesh,
                       model=encoder_model(config, ds, workdir))
    waiting = []
    for entry in cfg.methods:
      strategy = strategies.get(entry, cfg, 'config.label_free')
      # `init` takes no key: its one-time work (USL's density) serves every
      # seed, and runs only if some budget is left to select.
      state = functools.cache(functools.partial(strategy.init, ctx))
      for seed in config.seeds:
        run = f'{entry}/seed_{seed}'
        if run_one(config, ds, feats, mesh, entry, (strategy, ctx, state),
                   int(seed), os.path.join(workdir, entry, f'seed_{seed}'),
                   bar, (source.oracle(ds.y_train, run), pool_id)):
          waiting.append(run)
    bar.close()
    summary = report.write_summary(
        workdir, METRIC, 'label_free_accuracy.png',
        f'{config.input.source}: {config.features.source} features, '
        f'{cfg.get("downstream", "linear_probe")}')
    if distributed.is_main():
      results = epath.Path(workdir, 'results.md')
      results.write_text(results.read_text() + ''.join(
          '\n' + report.table(report.summarize(workdir, metric), metric)
          + '\n' for metric in ('classes_hit', 'count_spread')))
    source.stop_if_waiting(waiting)
    return summary


def encoder_model(config, ds, workdir: str):
  """A function returning the features' encoder as a `base.Model` (its
  images as `inputs`), or None when the features have no encoder."""
  if config.features.source != 'simclr':
    return None

  @functools.cache
  def model():
    apply_fn, variables = features_lib.encoder(
        config.features, os.path.join(workdir, 'features'))
    return base.Model(apply_fn, variables, lambda rows: ds.x_train[rows])

  return model


def coverage(labels, num_classes: int) -> dict:
  """Class coverage of bought labels: classes hit, and max − min count over
  all C classes (0 = perfectly balanced)."""
  counts = np.bincount(np.asarray(labels, np.int64), minlength=num_classes)
  return {'classes_hit': int((counts > 0).sum()),
          'count_spread': int(counts.max() - counts.min())}


def select_and_buy(strategy, state, ctx, oracle, budget: int, key, entry,
                   path: str) -> tuple[ledger_lib.Ledger, float]:
  """The ledger of `budget` labels `entry` picks, and the seconds its
  selection took.

  The selection is kept in `path`.selection.npz before its labels are
  asked for, so a rerun (after a crash, or once people answered) buys the
  same items without selecting again; the ledger is `path`.

  state: a function returning the strategy's `init` state (called only
  when a selection is needed; its one-time work counts in the seconds of
  the first selection that calls it).
  oracle: (the oracle, the pool's `PoolId`).

  Raises:
    oracle.LabelsNeeded: people have not answered the selection yet.
  """
  oracle, pool_id = oracle
  asked = path + '.selection.npz'
  if epath.Path(asked).exists():
    with epath.Path(asked).open('rb') as f, np.load(f) as z:
      sel = base.Selection(z['indices'], scores=z['scores'] if 'scores' in z
                           else None)
      seconds = float(z['seconds'])
  else:
    t0 = time.perf_counter()
    sel, _ = strategy.select(state(), ctx, budget, key)
    seconds = time.perf_counter() - t0
    sel = base.check_selection(sel, ctx, budget, entry)
    extra = {} if sel.scores is None else {'scores': sel.scores}
    rundir.atomic_write(asked, lambda f: np.savez(
        f, indices=sel.indices, seconds=seconds, **extra))
  if epath.Path(path).exists():
    return ledger_lib.Ledger.load(path, pool_id), seconds
  labels = oracle.reveal(sel.indices, 0, sel.scores)
  ledger = ledger_lib.Ledger.empty(pool=pool_id).add(0, sel.indices, labels)
  ledger.save(path)
  return ledger, seconds


def downstream_accuracy(config, ds, feats, mesh, ledger, key) -> float:
  """Test accuracy of the downstream model trained on the ledger's labels."""
  cfg = config.label_free
  if cfg.get('downstream', 'linear_probe') == 'linear_probe':
    probe = linear_probe.fit(feats[0][ledger.indices], ledger.labels,
                             ds.num_classes, key, **(cfg.get('probe') or {}))
    return accuracy.known_accuracy(linear_probe.logits(probe, feats[1]),
                                   ds.y_test)
  model = models.from_config(config.model, ds.num_classes)
  if cfg.downstream == 'fixmatch':
    variables, _ = fixmatch.train(model, ds.x_train[ledger.indices],
                                  ledger.labels, ds.x_train, key,
                                  **(cfg.get('fixmatch') or {}))
    return accuracy.known_accuracy(
        fixmatch.predict(model, variables, ds.x_test, mesh), ds.y_test)
  known = np.full(len(ds.y_train), -1, ds.y_train.dtype)  # Bought labels only.
  known[ledger.indices] = ledger.labels
  state = train.fit(config.train, model, ds.x_train, known, ledger.indices,
                    key, mesh)
  logits, _ = train.predict(state, ds.x_test, mesh,
                            config.train.get('predict_batch_size', 1024))
  return accuracy.known_accuracy(logits, ds.y_test)


def run_one(config, ds, feats, mesh, entry: str, method, seed: int,
            run_dir: str, bar: tqdm.tqdm, oracle) -> bool:
  """One method entry, one seed, every budget; resumes from `run_dir`.

  method: (strategy, its context, a function returning its `init` state).
  oracle: (the oracle, the pool's `PoolId`).

  Returns:
    Whether some budget waits for people's answers (the budgets after it
    are still selected and asked).
  """
  epath.Path(run_dir).mkdir(parents=True, exist_ok=True)
  cfg = config.label_free
  rows = [r for i, r in enumerate(report.read_metrics(run_dir))
          if r['round'] == i]
  report.write_metrics(run_dir, rows)
  bar.update(len(rows))
  strategy, ctx, state = method
  key = jax.random.key(seed)
  waiting = False
  for i in range(len(rows), len(cfg.budgets)):
    m = int(cfg.budgets[i])
    bar.set_description(f'{entry} seed {seed} budget {m}')
    try:
      ledger, select_seconds = select_and_buy(
          strategy, state, ctx, oracle, m,
          jax.random.fold_in(jax.random.fold_in(key, 2), i), entry,
          os.path.join(run_dir, f'ledger_{i}.npz'))
    except oracle_lib.LabelsNeeded:
      waiting = True  # Budgets are independent: ask the next ones too.
      continue
    if waiting:
      continue  # Metrics rows stay in budget order.
    t0 = time.perf_counter()
    score = downstream_accuracy(
        config, ds, feats, mesh, ledger,
        jax.random.fold_in(jax.random.fold_in(key, 3), i))
    row = {'round': i, 'labels': m, METRIC: score,
           **coverage(ledger.labels, ds.num_classes),
           'selection_seconds': round(select_seconds, 4),
           'train_seconds': round(time.perf_counter() - t0, 3),
           'strategy': entry,
           'method': strategies.method_of(entry, cfg.get(entry) or {}),
           'seed': seed}
    report.append_metrics(run_dir, row)
    rows.append(row)
    bar.update(1)
    bar.write(f'{entry} seed {seed}: {m} labels, {METRIC} '
              f'{report.number(score)}, '
              f'{row["classes_hit"]} classes hit, selection '
              f'{select_seconds:.2f}s')
  return waiting
