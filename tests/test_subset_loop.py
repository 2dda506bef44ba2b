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

from al_jax import report
from al_jax import strategies
from al_jax.loops import subset as subset_loop
from conftest import ROOT, QueryThenDraw, load_config

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


def test_eight_devices_select_and_score_the_same(reference, tmp_path):
  workdir = str(tmp_path / 'eight')
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
    (_set('subset.methods', ('boss', 'bos')), r"'bos'.*valid: badge, boss"),
    (_set('subset.methods', ('boss', 'boss')), 'each once'),
    (_set('subset.el2n_epochs', 9), 'el2n_epochs'),
    (_set('subset.fractons', (0.1,)), 'did you mean config.subset.fractions'),
    (_set('subset.ccs', {'beat': 0.1}), 'did you mean config.subset.ccs.beta'),
    (_set('subset.boss', {'score': 'el3n'}), "Unknown score 'el3n'"),
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
  want = strategies.get('boss', alpha=2.0).select(None, ctx, 12,
                                                  jax.random.key(0))[0]
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
