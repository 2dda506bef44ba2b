"""The one-shot subset loop end to end: outputs, resume, 8 devices, bad input,
and the method registry."""

import json
import os
import subprocess
import sys

import jax
import ml_collections
import numpy as np
import pytest

from al_jax import models
from al_jax import optim
from al_jax import report
from al_jax import sharding
from al_jax import strategies
from al_jax import train
from al_jax.input import sources
from al_jax.loops import initial
from al_jax.loops import subset as subset_loop
from al_jax.scores import dynamics
from conftest import ROOT, Interrupt, QueryThenDraw, load_config

METHODS = ('random', 'ccs', 'moderate', 'craig', 'gradmatch', 'boss')


def picks_of(workdir, entry, seed=0, i=0):
  with np.load(os.path.join(workdir, entry, f'seed_{seed}',
                            f'subset_{i}.npz')) as f:
    return f['indices'], f['weights']


@pytest.fixture(scope='module')
def reference(tmp_path_factory):
  """An uninterrupted run of configs/digits_boss.py on one device."""
  assert jax.device_count() == 1
  workdir = str(tmp_path_factory.mktemp('subset'))
  summary = subset_loop.run(load_config('digits_boss'), workdir)
  return workdir, summary


def test_end_to_end_outputs(reference):
  workdir, summary = reference
  config = load_config('digits_boss')
  assert set(summary) == set(METHODS)
  n = 1438  # digits pool after the 20% test split.
  for entry in METHODS:
    rows = report.read_metrics(os.path.join(workdir, entry, 'seed_0'))
    assert [r['fraction'] for r in rows] == list(config.subset.fractions)
    for i, row in enumerate(rows):
      idx, w = picks_of(workdir, entry, i=i)
      assert len(idx) == len(np.unique(idx)) == row['labels'] == round(
          row['fraction'] * n)
      # Better than chance (10%) from 72 examples on. (GradMatch's 72
      # examples are hard ones and reach only ~0.38.)
      assert 0.3 < row['test_accuracy'] <= 1
    _, w = picks_of(workdir, entry)
    # CRAIG and GradMatch train weighted; the others do not.
    assert (len(w) > 0) == (entry in ('craig', 'gradmatch'))
  info = json.load(open(os.path.join(workdir, 'initial', 'seed_0',
                                     'initial.json')))
  assert info['epochs'] == 4 and info['test_accuracy'] > 0.5
  for name in ('results.md', 'subset_accuracy.png', 'config.json'):
    assert os.path.exists(os.path.join(workdir, name))
  assert '| fraction |' in open(os.path.join(workdir, 'results.md')).read()


def test_resume_redoes_only_the_unfinished_fraction(reference, tmp_path):
  import shutil
  workdir = str(tmp_path / 'resumed')
  shutil.copytree(reference[0], workdir)
  initial = os.path.join(workdir, 'initial', 'seed_0', 'dynamics.npz')
  stamp = os.stat(initial).st_mtime_ns
  # A run killed while training the last fraction of BOSS: its selection
  # was saved, its metrics row was not.
  run_dir = os.path.join(workdir, 'boss', 'seed_0')
  rows = report.read_metrics(run_dir)
  report.write_metrics(run_dir, rows[:-1])
  summary = subset_loop.run(load_config('digits_boss'), workdir)
  assert os.stat(initial).st_mtime_ns == stamp  # Initial model reused.
  again = report.read_metrics(run_dir)
  for a, b in zip(again, rows):
    assert a['test_accuracy'] == b['test_accuracy']
  np.testing.assert_array_equal(summary['boss']['mean'],
                                reference[1]['boss']['mean'])


def test_eight_devices_select_the_same(reference, tmp_path):
  """From the same initial run, selection on 8 devices picks what it picks on
  one. (An initial run trained on 8 devices differs in the last float bits,
  enough to flip near-ties of the greedy: tests/test_dynamics.py compares
  training on 8 devices with a tolerance.)"""
  import shutil
  workdir = str(tmp_path / 'eight')
  shutil.copytree(os.path.join(reference[0], 'initial'),
                  os.path.join(workdir, 'initial'))
  done = subprocess.run(
      [sys.executable, '-m', 'al_jax.main', '--config=configs/digits_boss.py',
       f'--workdir={workdir}', "--config.subset.methods=('boss','craig')",
       '--config.subset.fractions=(0.05,)'],
      cwd=ROOT, capture_output=True, text=True, timeout=300,
      env={**os.environ, 'PYTHONPATH': ROOT,
           'XLA_FLAGS': '--xla_force_host_platform_device_count=8'})
  assert done.returncode == 0, done.stderr[-2000:]
  for entry in ('boss', 'craig'):
    for a, b in zip(picks_of(workdir, entry), picks_of(reference[0], entry)):
      np.testing.assert_array_equal(a, b)


def _initial_config():
  """digits_boss with a cosine schedule; 1438 / 32: 45 steps per epoch, a
  full run of 4 epochs (180 steps), T0 = 3: snapshot after ceil(3 * 1438 /
  32) = 135 steps, whose last batch holds 6 presentations of epoch 3."""
  config = load_config('digits_boss')
  config.train.schedule = 'cosine'  # Same shapes: reuses compiled steps.
  assert (config.subset.initial_epochs, config.subset.el2n_epochs) == (4, 3)
  return config


@pytest.fixture(scope='module')
def initial_run(tmp_path_factory):
  """The initial run of `_initial_config`, killed once just after its
  snapshot was written and then rerun; records the rate of every step."""
  config = _initial_config()
  ds = sources.load(config.input)
  model = models.from_config(config.model, ds.num_classes)
  mesh = sharding.make_mesh()
  out_dir = str(tmp_path_factory.mktemp('initial') / 'seed_0')
  rates, step, write = [], train.train_step, subset_loop.rundir.atomic_write

  def kill_after_outputs(path, *a, **k):
    write(path, *a, **k)
    if path.endswith('outputs.npz'):
      raise Interrupt

  with pytest.MonkeyPatch.context() as mp:
    mp.setattr(subset_loop.rundir, 'atomic_write', kill_after_outputs)
    with pytest.raises(Interrupt):
      initial.initial_model(config, ds, model, mesh, 0, out_dir)
  killed = sorted(os.listdir(out_dir))
  with pytest.MonkeyPatch.context() as mp:
    mp.setattr(train, 'train_step',
               lambda *a, **k: rates.append(float(a[4])) or step(*a, **k))
    ctx = initial.initial_model(config, ds, model, mesh, 0, out_dir)
  return config, ds, model, mesh, out_dir, ctx, rates, killed


def test_initial_snapshot_is_epoch_t0_of_the_full_run(initial_run):
  config, ds, model, mesh, out_dir, ctx, rates, killed = initial_run
  # The kill left the snapshot's files but no initial.json: it reran.
  assert 'outputs.npz' in killed and 'initial.json' not in killed
  info = json.load(open(os.path.join(out_dir, 'initial.json')))
  total, snap = 180, 135
  assert (info['epochs'], info['snapshot_epoch'], info['steps'],
          info['snapshot_step']) == (4, 3, total, snap)
  # One schedule over all 180 steps: at the snapshot the rate is still
  # 0.153 of its peak, where a 3-epoch run of its own would end at ~0.
  full = optim.make_schedule(config.train, total)
  np.testing.assert_allclose(rates, [full(i) for i in range(total)],
                             rtol=1e-6)
  assert rates[snap - 1] > 0.15 * config.train.learning_rate
  assert optim.make_schedule(config.train, 3 * 45)(snap - 1) < 0.01 * rates[
      snap - 1]
  # The snapshot (outputs and model) is a fit of the same key stopped
  # after step 135 of the full schedule, bit for bit.
  cfg = ml_collections.ConfigDict(config.train.to_dict())
  cfg.steps = snap
  with pytest.MonkeyPatch.context() as mp:
    mp.setattr(train.optim, 'make_schedule',
               lambda c, steps, real=optim.make_schedule: real(c, total))
    stopped = train.fit(cfg, model, ds.x_train, ds.y_train,
                        np.arange(len(ds.y_train)),
                        jax.random.fold_in(jax.random.key(0), 1), mesh,
                        on_batch=lambda *a: None)
  logits, features = ctx.logits(), ctx.embeddings()
  want = train.predict(stopped, ds.x_train, mesh,
                       config.train.predict_batch_size)
  np.testing.assert_array_equal(logits, want[0])
  np.testing.assert_array_equal(features, want[1])
  got = ctx.model().variables['params']
  for a, b in zip(jax.tree.leaves(got), jax.tree.leaves(stopped.params)):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_initial_scores_el2n_to_t0_aum_and_forgetting_full_run(initial_run):
  config, ds, _, _, out_dir, ctx, _, _ = initial_run
  rec = dynamics.load(os.path.join(out_dir, 'dynamics.npz'))
  assert rec.provenance['seed'] == 0 and rec.provenance['num_epochs'] == 4
  assert (rec.provenance['snapshot_epoch'],
          rec.provenance['snapshot_step']) == (3, 135)
  assert rec.provenance['config']['train']['schedule'] == 'cosine'
  np.testing.assert_array_equal(rec.count, np.ones((4, len(ds.y_train))))
  v = dict(zip(dynamics.STATS, rec.values))  # Each [E = 4, N].
  np.testing.assert_allclose(ctx.scores('el2n'), v['el2n'][:3].mean(0),
                             rtol=1e-6)
  np.testing.assert_allclose(ctx.scores('grand'), v['grand'][:3].mean(0),
                             rtol=1e-6)
  for name in ('aum', 'aum_prob', 'loss'):
    np.testing.assert_allclose(ctx.scores(name), v[name].mean(0), rtol=1e-6,
                               atol=1e-7, err_msg=name)
  ok = v['correct'] > 0.5
  events = np.sum(ok[:-1] & ~ok[1:], axis=0)
  np.testing.assert_array_equal(ctx.scores('forgetting'),
                                np.where(ok.any(0), events, 4))
  assert events.max() > 0  # Some example is forgotten in this run.


def test_initial_run_of_another_config_is_refused(initial_run, reference,
                                                  tmp_path):
  import shutil
  config, ds, model, mesh, out_dir, _, _, _ = initial_run
  for key, value in (('subset.el2n_epochs', 2), ('subset.initial_epochs', 5),
                     ('train.learning_rate', 0.01)):
    other = _initial_config()
    _set(key, value)(other)
    with pytest.raises(ValueError, match=rf'config\.{key}={value!r}'):
      initial.initial_model(other, ds, model, mesh, 0, out_dir)
  # Keys the initial run does not read may differ.
  other = _initial_config()
  other.train.steps = 7
  initial.initial_model(other, ds, model, mesh, 0, out_dir)
  # An initial run written by an older al_jax (no snapshot) is refused.
  old = str(tmp_path / 'old')
  shutil.copytree(out_dir, old)
  info = json.load(open(os.path.join(old, 'initial.json')))
  del info['run']
  json.dump(info, open(os.path.join(old, 'initial.json'), 'w'))
  with pytest.raises(ValueError, match='older al_jax'):
    initial.initial_model(config, ds, model, mesh, 0, old)
  # The loop refuses a work dir of another initial run before loading data.
  workdir = str(tmp_path / 'workdir')
  shutil.copytree(reference[0], workdir)
  longer = load_config('digits_boss')
  longer.subset.initial_epochs = 8
  with pytest.raises(ValueError, match=r'subset\.initial_epochs: 4 -> 8'):
    subset_loop.run(longer, workdir)


def _set(field, value):
  def change(config):
    *path, key = field.split('.')
    section = config
    for p in path:
      section = section[p]
    with config.unlocked():
      section[key] = value
  return change


@pytest.mark.parametrize('change, message', [
    (_set('subset.fractions', (0.1, 0.0)), r'0.0 is not in \(0, 1\]'),
    (_set('subset.fractions', (1.5,)), r'1.5 is not in \(0, 1\]'),
    (_set('subset.fractions', (1e-4,)), 'selects no example'),
    (_set('subset.methods', ('boss', 'bos')), r"'bos'.*valid:.* boss,"),
    (_set('subset.methods', ('boss', 'boss')), 'each once'),
    (_set('subset.el2n_epochs', 9), 'el2n_epochs'),
    (_set('subset.fractons', (0.1,)), 'did you mean config.subset.fractions'),
    (_set('subset.ccs', {'beat': 0.1}), 'did you mean config.subset.ccs.beta'),
    (_set('subset.boss', {'score': 'el3n'}), "Unknown score 'el3n'"),
    (_set('subset.sweeps', {'boss': {'alpha': (0.0, 1.0)}}),
     "needs config.subset.select_on='validation'"),
    (_set('subset.select_on', 'train'), "Unknown config.subset.select_on"),
])
def test_bad_input_fails_with_a_clear_message(change, message, tmp_path):
  config = load_config('digits_boss')
  change(config)
  with pytest.raises(ValueError, match=message):
    subset_loop.run(config, str(tmp_path))


def _ctx():
  rng = np.random.default_rng(0)
  labels = np.repeat(np.arange(3), 40)
  scores = {'el2n': rng.random(120), 'aum': rng.normal(size=120)}
  logits = rng.normal(size=(120, 3)).astype(np.float32)
  emb = rng.normal(size=(120, 8)).astype(np.float32)
  scores['aum_prob'] = rng.normal(size=120)  # The cutoffs' default score.
  return strategies.Context(np.ones(120, bool), labels=labels,
                            outputs=lambda: (logits, emb), scores=scores)


def _run(entry, ctx, budget, cfg=None, key=0):
  strategy = strategies.get(entry, cfg, 'config.subset')
  return strategy.select(None, ctx, budget, jax.random.key(key))[0]


def test_registry_orientation_and_variants():
  ctx = _ctx()
  sel = _run('hardest', ctx, 12)
  for c in range(3):  # The 4 highest EL2N of each class.
    rows = np.flatnonzero(ctx.labels == c)
    want = rows[np.argsort(-ctx.scores('el2n')[rows])[:4]]
    np.testing.assert_array_equal(np.intersect1d(sel.indices, rows),
                                  np.sort(want))
  aum = _run('hardest', ctx, 12, ml_collections.ConfigDict(
      {'hardest': {'score': 'aum'}}))
  for c in range(3):  # The 4 lowest AUM of each class.
    rows = np.flatnonzero(ctx.labels == c)
    want = rows[np.argsort(ctx.scores('aum')[rows])[:4]]
    np.testing.assert_array_equal(np.intersect1d(aum.indices, rows),
                                  np.sort(want))
  cfg = load_config('mnist5k_boss', 'ablation').subset
  assert strategies.method_of('diversity', cfg.diversity) == 'boss'
  # 'diversity' is BOSS with alpha = 0, beta = 0: the same as a flat
  # importance, whatever the difficulty.
  flat = _run('diversity', ctx, 12, cfg)
  shuffled = ctx.replace(_scores={'el2n': ctx.scores('el2n')[::-1]})
  again = _run('diversity', shuffled, 12, cfg)
  np.testing.assert_array_equal(flat.indices, again.indices)
  both = _run('both', ctx, 12, cfg)
  assert not np.array_equal(np.sort(both.indices), np.sort(flat.indices))
  rand = _run('random', ctx, 30, key=1)
  assert len(np.unique(rand.indices)) == 30


def test_options_sections_take_overrides_and_name_typos():
  config = load_config('mnist5k_boss')
  config.lock()  # As the command line loads it.
  assert config.subset.boss.alpha is None  # A float placeholder: default.
  config.subset.boss.alpha = 2.0  # The key exists.
  ctx = _ctx()
  two = _run('boss', ctx, 12, config.subset)
  want = strategies.get('boss', alpha=2.0, beta=config.subset.boss.beta
                        ).select(None, ctx, 12, jax.random.key(0))[0]
  np.testing.assert_array_equal(two.indices, want.indices)
  with pytest.raises(AttributeError, match='alpa'):
    config.subset.boss.alpa = 1.0
  with config.unlocked():  # A typo in a config file is named at run time.
    config.subset.boss.alpa = 1.0
  with pytest.raises(ValueError, match='did you mean config.subset.boss.alpha'):
    strategies.get('boss', config.subset, 'config.subset')


def test_queries_and_weights_in_the_one_shot_job(monkeypatch, tmp_path):
  """A method that buys labels mid-selection and draws with replacement:
  each fraction has its own budget, and the subset trains weighted."""
  monkeypatch.setitem(strategies.REGISTRY, 'query_then_draw', QueryThenDraw)
  fits = []
  fit = subset_loop.train.fit
  monkeypatch.setattr(subset_loop.train, 'fit', lambda *a, **k: fits.append(
      k.get('weights')) or fit(*a, **k))
  config = load_config('digits_boss')
  config.subset.methods = ('query_then_draw',)
  config.subset.fractions = (0.02, 0.05)
  config.train.epochs = 1
  subset_loop.run(config, str(tmp_path))
  rows = report.read_metrics(str(tmp_path / 'query_then_draw' / 'seed_0'))
  assert len(rows) == 2 and all(r['labels'] <= 8 for r in rows)
  for i, w in enumerate(fits[1:]):  # fits[0]: the initial model.
    with np.load(tmp_path / 'query_then_draw' / 'seed_0' /
                 f'subset_{i}.npz') as f:
      np.testing.assert_array_equal(f['weights'], w)
      assert len(f['indices']) == len(w) == rows[i]['labels']


def _validation_config():
  config = load_config('digits_boss')
  config.subset.methods = ('ccs', 'boss')
  config.subset.fractions = (0.05,)
  config.subset.select_on = 'validation'
  config.subset.validation_fraction = 0.25
  config.subset.sweeps = ml_collections.ConfigDict(
      {'boss': {'alpha': (0.0, 2.0), 'c': (0.2, 0.8)}})
  return config


def test_options_chosen_on_validation(tmp_path, monkeypatch):
  """Paper 002 item: parameters chosen without the test set. The pool loses
  its validation part before anything trains; every grid point is tried and
  scored on validation; only the best one's test accuracy is reported."""
  workdir = str(tmp_path)
  calls = []
  real = subset_loop.train_subset
  monkeypatch.setattr(subset_loop, 'train_subset',
                      lambda *a, **k: calls.append(1) or real(*a, **k))
  subset_loop.run(_validation_config(), workdir)
  assert len(calls) == 4 + 1  # BOSS's grid (the best kept), CCS once.
  n_pool = 1438 - round(0.25 * 1438)
  with np.load(os.path.join(workdir, 'initial', 'seed_0', 'outputs.npz')) as f:
    assert len(f['features']) == n_pool  # The initial run never saw val.
  run_dir = os.path.join(workdir, 'boss', 'seed_0')
  tried = report.read_metrics(run_dir, subset_loop.SWEEP)
  assert [r['options'] for r in tried] == [
      {'alpha': a, 'c': c} for a in (0.0, 2.0) for c in (0.2, 0.8)]
  assert all('test_accuracy' not in r for r in tried)
  best = max(tried, key=lambda r: r['validation_accuracy'])  # First on ties.
  (row,) = report.read_metrics(run_dir)
  assert row['options'] == best['options']
  assert row['validation_accuracy'] == best['validation_accuracy']
  assert row['labels'] == round(0.05 * n_pool)
  # An entry without a sweep runs once, at its configured options.
  (ccs_row,) = report.read_metrics(os.path.join(workdir, 'ccs', 'seed_0'))
  assert ccs_row['options'] == {} and 'validation_accuracy' in ccs_row
  assert not report.read_metrics(os.path.join(workdir, 'ccs', 'seed_0'),
                                 subset_loop.SWEEP)
  # A rerun of a half-finished sweep reuses the points already tried.
  os.remove(os.path.join(run_dir, report.METRICS))
  calls.clear()
  subset_loop.run(_validation_config(), workdir)
  assert len(calls) == 1  # Only the chosen point's final training.
  timeless = lambda r: {k: v for k, v in r.items() if '_seconds' not in k}
  assert [timeless(r) for r in report.read_metrics(run_dir)] == [
      timeless(row)]


@pytest.mark.parametrize('sweeps, message', [
    ({'moderate': {'beta': (0.1,)}}, 'not an entry of config.subset.methods'),
    ({'boss': {'alpah': (1.0,)}}, 'did you mean'),
])
def test_bad_sweeps_are_named(sweeps, message, tmp_path):
  config = _validation_config()
  config.subset.sweeps = ml_collections.ConfigDict(sweeps)
  with pytest.raises(ValueError, match=message):
    subset_loop.run(config, str(tmp_path))


def test_sensitivity_runs_one_shot_with_weights(tmp_path):
  """configs/digits_sensitivity.py: Algorithm 1 with i.i.d. draws in the
  one-shot job; its weights 1/(s p) reach training, repeats merged."""
  config = load_config('digits_sensitivity')
  config.subset.methods = ('sensitivity_iid',)
  config.subset.fractions = (0.05,)
  config.subset.initial_epochs = 2
  config.subset.el2n_epochs = 1
  subset_loop.run(config, str(tmp_path))
  idx, w = picks_of(str(tmp_path), 'sensitivity_iid')
  row = report.read_metrics(str(tmp_path / 'sensitivity_iid' / 'seed_0'))[0]
  assert len(idx) == len(np.unique(idx)) == row['labels'] <= 72
  assert np.any(w != 1) and np.all(w > 0)
