"""The active-learning loop: seed set, then rounds of train -> select -> buy.

Each round's candidates are every unlabelled item, or with
``al.candidate_pool`` = m > 0 a fresh random m of them (paper 004's
"unlabelled pool size", drawn with fold_in(key(seed), 3, round)).

Work dir layout, one run directory per strategy and seed:
  <workdir>/<strategy>/seed_<s>/ledger.npz       labels bought (source of truth)
                               metrics.jsonl     one row per completed round
                               model/<r>/        M_r and its training
                                                 seconds (orbax
                                                 CheckpointManager, the
                                                 latest round only)
                               strategy_state.pkl  one-time strategy work
  <workdir>/results.md, <workdir>/learning_curve.png

Round r trains model M_r on the labels of rounds <= r, evaluates it, and (if
r < rounds) buys the labels of round r + 1. Persistence order within a round
is checkpoint -> ledger -> metrics row, so a metrics row means the round is
complete. A resumed run restarts after the last metrics row (from M_r's
checkpoint when round r trained but its selection did not finish); labels
already in the ledger are reused, never bought again or dropped. Every
random choice is derived from (seed, round) with `jax.random.fold_in`, so a
resumed run ends with the same ledger as an uninterrupted one. Labels a strategy buys in the
middle of its selection (`Context.query`) reach the ledger at once
(`pool.Purchases`); a rerun after a crash reuses them. The work dir is locked
and its config checked on resume (`rundir`); a finished run given more rounds
makes the selection it skipped, then continues.
"""

import functools
import itertools
import os
import pickle
import time
import zipfile

from etils import epath
import jax
import numpy as np
import tqdm

from al_jax import checkpoints
from al_jax import config_check
from al_jax import models
from al_jax import optim
from al_jax import report
from al_jax import sharding
from al_jax import strategies
from al_jax import train
from al_jax.input import ledger as ledger_lib
from al_jax.input import sources
from al_jax.input.pool_id import OtherPool
from al_jax.input.pool_id import PoolId
from al_jax.labeling import oracle as oracle_lib
from al_jax.loops import rundir
from al_jax.loops.pool import Pool
from al_jax.loops.pool import Purchases
from al_jax.strategies import base

TOP_KEYS = ('job', 'seeds', 'input', 'model', 'train', 'al')
AL_KEYS = ('strategies', 'seed_examples', 'budget_examples', 'rounds',
           'retrain', 'candidate_pool')
RETRAIN = ('scratch', 'finetune')
# Keys a resumed run may change: more seeds, strategies or rounds.
FREE_KEYS = ('seeds', 'al.strategies', 'al.rounds', 'train.predict_batch_size')
# What this job lets a strategy see (strategies.base.NEEDS): not every label.
# VALIDATION: where the data set has a validation split (else the strategy
# that needs it says so when it selects).
PROVIDES = (base.LOGITS, base.EMBEDDINGS, base.MODEL, base.QUERY, base.CHOSEN,
            base.VALIDATION)


def check_config(config):
  """Validates names and sizes that do not need the data."""
  config_check.check_keys(config, TOP_KEYS, 'config')
  train.check_config(config.train)
  config_check.check_keys(config.input, sources.INPUT_KEYS, 'config.input')
  # config.al.<entry> holds that entry's options.
  strategies.check_section(config.al, 'strategies', AL_KEYS, 'active',
                           PROVIDES, 'config.al')
  if config.al.get('retrain', 'scratch') not in RETRAIN:
    raise ValueError(f'Unknown config.al.retrain {config.al.retrain!r}; '
                     f'valid: {RETRAIN}.')
  for key in ('seed_examples', 'budget_examples'):
    if config.al[key] <= 0:
      raise ValueError(f'config.al.{key} must be positive.')
  if config.al.rounds < 0:
    raise ValueError('config.al.rounds must be >= 0.')
  pool = config.al.get('candidate_pool', 0)
  if pool and pool < config.al.budget_examples:
    raise ValueError(f'config.al.candidate_pool={pool} is smaller than '
                     f'budget_examples={config.al.budget_examples}: each '
                     'round picks its batch from the candidate pool.')


def check_budget(config, pool_size: int):
  """The seed set plus all rounds must fit in the pool."""
  al = config.al
  need = al.seed_examples + al.rounds * al.budget_examples
  if need > pool_size:
    raise ValueError(
        f'The run needs {need} labels (seed_examples={al.seed_examples} + '
        f'rounds={al.rounds} x budget_examples={al.budget_examples}) but the '
        f'unlabeled pool has only {pool_size} examples.')


def run(config, workdir: str,
        labels: oracle_lib.Options = oracle_lib.Options()) -> dict:
  """Runs every strategy x seed of `config`; returns the summary per strategy.

  The work dir is locked while it runs; rerunning it resumes, with more
  seeds, strategies or rounds if the config asks (`FREE_KEYS`). With people
  as the oracle (`labels`), each run goes as far as the answers allow; then
  the job raises `oracle.WaitingForLabels` after exporting the questions.
  """
  check_config(config)
  with rundir.open_workdir(workdir, config, FREE_KEYS,
                           ('al.strategies', 'al'), _rounds_only_grow):
    ds = sources.load(config.input)
    pool = Pool.of(ds)
    if pool.pairs is not None:
      strategies.check_pairs(config.al.strategies, config.al,
                             'config.al.strategies')
    check_budget(config, pool.size)
    pool_id = PoolId.of(ds, pool.pairs)
    source = oracle_lib.Source(labels, workdir, ds, pool_id,
                               pool.pairs is not None)
    model = models.from_config(config.model, ds.num_classes)
    mesh = sharding.make_mesh()
    runs = list(itertools.product(config.al.strategies, config.seeds))
    bar = tqdm.tqdm(total=len(runs) * (config.al.rounds + 1), unit='round',
                    dynamic_ncols=True)
    waiting = []
    for name, seed in runs:
      run_dir = os.path.join(workdir, name, f'seed_{seed}')
      try:
        run_one(config, ds, (pool, pool_id), model, mesh, name, int(seed),
                run_dir, bar, source.oracle(pool.hidden,
                                            f'{name}/seed_{seed}'))
      except oracle_lib.LabelsNeeded:
        waiting.append(f'{name}/seed_{seed}')
    bar.close()
    summary = report.write_summary(
        workdir, pool.metric, 'learning_curve.png',
        f'{config.input.source}: {config.model.name}')
    source.stop_if_waiting(waiting)
    return summary


def _rounds_only_grow(old: dict, new: dict):
  if new['al.rounds'] < old['al.rounds']:
    raise ValueError(
        f'config.al.rounds={new["al.rounds"]}, but the work dir holds runs of '
        f'{old["al.rounds"]} rounds: rounds may be added, not removed. Use a '
        'new --workdir.')


def _seed_ledger(oracle, n_seed: int, key, pool_id) -> ledger_lib.Ledger:
  """Round 0: `n_seed` pool items uniformly at random (paper 000 Alg. 2)."""
  idx = np.asarray(jax.random.choice(key, oracle.pool_size, (n_seed,),
                                     replace=False), np.int64)
  labels = oracle.reveal(idx, 0)
  return ledger_lib.Ledger.empty(labels.shape[1:], labels.dtype,
                                 pool_id).add(0, idx, labels)


def _resume(run_dir: str, pool_id) -> tuple[ledger_lib.Ledger | None, list]:
  """Reads the ledger and the complete metrics rows of an earlier run (the
  config it ran with was checked by `rundir.check_resume`, the pool by the
  ledger's fingerprint)."""
  path = os.path.join(run_dir, 'ledger.npz')
  if not epath.Path(path).exists():
    return None, []
  try:
    ledger = ledger_lib.Ledger.load(path, pool_id)
  except OtherPool:
    raise  # Readable, but of another pool: the message says what changed.
  except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
    raise ValueError(
        f'{path} is unreadable ({type(e).__name__}: {e}). It holds the labels '
        'bought so far and is left untouched: put a good copy in its place '
        f'(a backup, or {path}.tmp if an interrupted save left one) and '
        'rerun, or start in a new --workdir.') from e
  rows = report.read_metrics(run_dir)
  done = list(itertools.takewhile(lambda ir: ir[1]['round'] == ir[0],
                                  enumerate(rows)))
  return ledger, [row for _, row in done]


def run_one(config, ds, pool: tuple[Pool, PoolId], model, mesh, name: str,
            seed: int, run_dir: str, bar: tqdm.tqdm, oracle) -> list[dict]:
  """One strategy, one seed; resumes from `run_dir` when it holds a run.

  Raises:
    oracle.LabelsNeeded: people have not answered what the run asks yet.
  """
  al = config.al
  pool, pool_id = pool
  epath.Path(run_dir).mkdir(parents=True, exist_ok=True)
  ledger_path = os.path.join(run_dir, 'ledger.npz')
  round_models = checkpoints.RoundModels(
      rundir.absolute(os.path.join(run_dir, 'model')))
  state_path = os.path.join(run_dir, 'strategy_state.pkl')
  key = jax.random.key(seed)
  k_seed, k_train, k_select, k_pool = (jax.random.fold_in(key, i)
                                       for i in range(4))
  strategy = strategies.get(name, al, 'config.al')
  finetune = al.get('retrain', 'scratch') == 'finetune'
  predict_bs = config.train.get('predict_batch_size', 1024)

  ledger, rows = _resume(run_dir, pool_id)
  if ledger is None:
    ledger = _seed_ledger(oracle, al.seed_examples, k_seed, pool_id)
    ledger.save(ledger_path)
  report.write_metrics(run_dir, rows)
  bar.update(len(rows))
  strategy_state = None
  # Decided once: in a multi-process job, process 0 may write the file while
  # another process is about to look for it.
  initialized = epath.Path(state_path).exists()
  if initialized:
    with epath.Path(state_path).open('rb') as f:
      strategy_state = pickle.load(f)

  def buy(r: int, state) -> float:
    """Round r's selection with model `state`: buys round r + 1's labels;
    returns the seconds it took."""
    nonlocal ledger, strategy_state, initialized
    purchases = Purchases(pool, ledger, ledger_path, r + 1, oracle)
    ctx = purchases.context(
        ledger.upto(r), state, ds, functools.partial(
            train.predict, mesh=mesh, batch_size=predict_bs), mesh,
        config.train.get('weight_decay', 0.), al.get('candidate_pool', 0),
        jax.random.fold_in(k_pool, r))
    t0 = time.perf_counter()
    if not initialized:
      strategy_state = strategy.init(ctx)
      rundir.atomic_write(state_path,
                          functools.partial(pickle.dump, strategy_state))
      initialized = True
    selection, strategy_state = strategy.select(
        strategy_state, ctx, al.budget_examples,
        jax.random.fold_in(k_select, r))
    seconds = time.perf_counter() - t0
    ledger = purchases.close(
        base.check_selection(selection, ctx, al.budget_examples, name))
    return seconds

  start = len(rows)
  # A finished run given more rounds has not made its last selection yet.
  pending = 0 < start <= al.rounds and ledger.complete < start
  def restore(r: int):
    return round_models.restore(r, train.create_state(
        model, ds.x_train.shape[1:], optim.make_optimizer(config.train),
        k_train))

  # M_start was trained and saved before its selection stopped (a crash, or
  # questions for people): training again would give the same model.
  trained = start in round_models.rounds()
  state = None
  if start > 0 and (pending or (finetune and not trained)):
    state, _ = restore(start - 1)
  if pending:
    buy(start - 1, state)

  for r in range(start, al.rounds + 1):
    bar.set_description(f'{name} seed {seed} round {r}')
    bought = ledger.upto(r)
    if r == start and trained:
      state, train_seconds = restore(r)
    else:
      known, train_idx, weights = pool.training_labels(ds, bought)
      t0 = time.perf_counter()
      state = train.fit(config.train, model, ds.x_train, known, train_idx,
                        jax.random.fold_in(k_train, r), mesh,
                        state=state if finetune else None, weights=weights)
      train_seconds = time.perf_counter() - t0
      round_models.save(r, state, train_seconds)
    score = pool.evaluate(functools.partial(
        train.predict, state, mesh=mesh, batch_size=predict_bs),
                          ds.x_test, ds.y_test)
    select_seconds = (buy(r, state) if r < al.rounds and ledger.complete <= r
                      else None)
    row = {'round': r, 'labels': len(bought), pool.metric: score,
           'train_seconds': round(train_seconds, 3),
           'selection_seconds': (None if select_seconds is None
                                 else round(select_seconds, 4)),
           'strategy': name, 'seed': seed}
    report.append_metrics(run_dir, row)
    rows.append(row)
    bar.update(1)
    bar.write(f'{name} seed {seed} round {r}: {len(bought)} labels, '
              f'{pool.metric} {report.number(score)}, '
              f'train {train_seconds:.1f}s'
              + ('' if select_seconds is None
                 else f', selection {select_seconds:.2f}s'))
  round_models.close()
  return rows
