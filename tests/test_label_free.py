"""The label-free job (paper 003): end to end on digits, resume without
buying again, class coverage, the linear probe, and bad input."""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from al_jax.evaluators import linear_probe
from al_jax.input import ledger as ledger_lib
from al_jax.loops import label_free
from conftest import ROOT, load_config


def small_config():
  config = load_config('digits_usl')
  config.seeds = (0,)
  config.label_free.budgets = (10, 30)
  config.label_free.methods = ('random', 'usl')
  return config


@pytest.fixture(scope='module')
def finished(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp('label_free'))
  summary = label_free.run(small_config(), workdir)
  return workdir, summary


def rows(workdir, entry, seed=0):
  with open(os.path.join(workdir, entry, f'seed_{seed}',
                         'metrics.jsonl')) as f:
    return [json.loads(line) for line in f]


def test_end_to_end(finished):
  workdir, summary = finished
  assert set(summary) == {'random', 'usl'}
  for entry in summary:
    got = rows(workdir, entry)
    assert [r['labels'] for r in got] == [10, 30]
    for i, row in enumerate(got):
      ledger = ledger_lib.Ledger.load(
          os.path.join(workdir, entry, 'seed_0', f'ledger_{i}.npz'))
      assert len(np.unique(ledger.indices)) == row['labels']
      counts = np.bincount(ledger.labels, minlength=10)
      assert row['classes_hit'] == (counts > 0).sum()
      assert row['count_spread'] == counts.max() - counts.min()
      assert 0.1 < row['test_accuracy'] <= 1
  text = open(os.path.join(workdir, 'results.md')).read()
  assert 'classes_hit' in text and '| usl (1 seeds)' in text
  assert os.path.exists(os.path.join(workdir, 'label_free_accuracy.png'))


def test_resume_reuses_bought_labels(finished, tmp_path):
  workdir, _ = finished
  run_dir = os.path.join(workdir, 'usl', 'seed_0')
  before = open(os.path.join(run_dir, 'ledger_1.npz'), 'rb').read()
  got = rows(workdir, 'usl')
  with open(os.path.join(run_dir, 'metrics.jsonl'), 'w') as f:
    f.write(json.dumps(got[0]) + '\n')  # As if killed after buying.
  label_free.run(small_config(), workdir)
  again = rows(workdir, 'usl')
  assert open(os.path.join(run_dir, 'ledger_1.npz'), 'rb').read() == before
  # Not selected again: the seconds of the first selection, read back.
  assert again[1]['selection_seconds'] == got[1]['selection_seconds'] > 0
  assert again[1]['test_accuracy'] == got[1]['test_accuracy']


def test_same_selection_on_eight_devices(finished, tmp_path):
  workdir, _ = finished
  script = f'''
import os, sys
sys.path.insert(0, {os.path.join(ROOT, 'tests')!r})
from conftest import load_config
from al_jax.loops import label_free
config = load_config('digits_usl')
config.seeds = (0,)
config.label_free.budgets = (10, 30)
config.label_free.methods = ('usl',)
label_free.run(config, {str(tmp_path)!r})
'''
  env = dict(os.environ, XLA_FLAGS='--xla_force_host_platform_device_count=8',
             PYTHONPATH=ROOT)
  subprocess.run([sys.executable, '-c', script], check=True, env=env,
                 capture_output=True)
  for i in range(2):
    one = ledger_lib.Ledger.load(
        os.path.join(workdir, 'usl', 'seed_0', f'ledger_{i}.npz'))
    many = ledger_lib.Ledger.load(
        os.path.join(tmp_path, 'usl', 'seed_0', f'ledger_{i}.npz'))
    np.testing.assert_array_equal(one.indices, many.indices)


def test_linear_probe_learns_like_logistic_regression():
  rng = np.random.default_rng(0)
  centres = rng.normal(size=(4, 16)) * 2
  y = rng.integers(4, size=600)
  x = (centres[y] + rng.normal(size=(600, 16))).astype(np.float32)
  params = linear_probe.fit(x[:80], y[:80], 4, jax.random.key(0))
  ours = linear_probe.accuracy(params, x[80:], y[80:])
  ref = LogisticRegression(max_iter=1000).fit(x[:80], y[:80]).score(
      x[80:], y[80:])
  assert ours > 0.9 and ours > ref - 0.03, (ours, ref)
  # Deterministic given the key.
  again = linear_probe.fit(x[:80], y[:80], 4, jax.random.key(0))
  np.testing.assert_array_equal(params.params['w'], again.params['w'])
  with pytest.raises(ValueError, match='Unknown linear probe options'):
    linear_probe.fit(x[:8], y[:8], 4, jax.random.key(0), epoch=3)


def test_coverage():
  assert label_free.coverage([0, 0, 1, 3], 4) == {'classes_hit': 3,
                                                  'count_spread': 2}


@pytest.mark.parametrize('change, message', [
    (lambda c: c.label_free.update(budgets=(5000,)), 'labels from a pool'),
    (lambda c: c.label_free.update(budgets=(0,)), 'not a positive'),
    (lambda c: c.label_free.update(methods=('margin',)), 'needs logits'),
    (lambda c: c.label_free.update(methods=('usll',)), "did you mean 'usl'"),
    (lambda c: c.features.update(source='npz', path='/nonexistent.npz'),
     'no such embeddings file'),
    (lambda c: c.features.update(source='clip'), 'Unknown config.features'),
    (lambda c: c.label_free.usl.update(knn_k=5000), 'k=5000 must be in'),
])
def test_bad_input_is_named(change, message, tmp_path):
  config = small_config()
  config.unlock()
  change(config)
  with pytest.raises((ValueError, FileNotFoundError), match=message):
    label_free.run(config, str(tmp_path))


def test_nan_features_are_named(tmp_path):
  config = small_config()
  bad = np.ones((1438, 4), np.float32)
  bad[7, 2] = np.nan
  path = str(tmp_path / 'emb.npz')
  np.savez(path, train=bad, test=np.ones((359, 4), np.float32))
  config.features.source = 'npz'
  config.features.path = path
  with pytest.raises(ValueError, match=r'NaN/inf values, first rows: \[7\]'):
    label_free.run(config, str(tmp_path / 'run'))


def test_cli_runs_a_label_free_config(tmp_path):
  out = subprocess.run(
      [sys.executable, '-m', 'al_jax.main',
       '--config=configs/digits_usl.py', f'--workdir={tmp_path}',
       '--config.seeds=(0,)', '--config.label_free.budgets=(10,)',
       "--config.label_free.methods=('kmeans_nearest',)"],
      cwd=ROOT, capture_output=True, text=True, check=False)
  assert out.returncode == 0, out.stderr[-2000:]
  assert '| kmeans_nearest (1 seeds)' in out.stdout


def test_downstream_model_trains_on_the_raw_inputs(tmp_path):
  config = small_config()
  digits = load_config('digits')
  config.model, config.train = digits.model, digits.train
  config.label_free.downstream = 'model'
  config.label_free.methods = ('kcenter',)
  config.label_free.budgets = (40,)
  label_free.run(config, str(tmp_path))
  (row,) = rows(str(tmp_path), 'kcenter')
  assert row['labels'] == 40 and 0.3 < row['test_accuracy'] <= 1
  del config.model
  with pytest.raises(ValueError, match="downstream='model' needs"):
    label_free.check_config(config)


def test_budgets_may_grow_but_not_change(finished):
  workdir, _ = finished
  config = small_config()
  config.label_free.budgets = (20, 30)
  with pytest.raises(ValueError, match='values may be appended'):
    label_free.run(config, workdir)
