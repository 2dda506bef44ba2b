"""End-to-end active-learning loop: outputs, resume, 8 devices, bad input."""

import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from al_jax import report
from al_jax import strategies
from al_jax import train
from al_jax.input import ledger as ledger_lib
from al_jax.labeling import oracle as oracle_lib
from al_jax.loops import active
from al_jax.strategies import base
from conftest import ROOT, Interrupt, QueryThenDraw, load_config


def ledger_of(workdir, strategy='margin', seed=0):
  return ledger_lib.Ledger.load(
      os.path.join(workdir, strategy, f'seed_{seed}', 'ledger.npz'))


def assert_same_ledger(a, b):
  np.testing.assert_array_equal(a.indices, b.indices)
  np.testing.assert_array_equal(a.labels, b.labels)
  np.testing.assert_array_equal(a.rounds, b.rounds)


def cli(*args, env=None, **kwargs):
  return subprocess.run(
      [sys.executable, '-m', 'al_jax.main', *args], cwd=ROOT,
      capture_output=True, text=True,
      env={**os.environ, 'PYTHONPATH': ROOT, **(env or {})}, **kwargs)


@pytest.fixture(scope='module')
def reference(tmp_path_factory):
  """An uninterrupted in-process run of configs/digits.py on one device."""
  assert jax.device_count() == 1
  workdir = str(tmp_path_factory.mktemp('reference'))
  summary = active.run(load_config('digits'), workdir)
  return workdir, summary


def test_end_to_end_outputs(reference):
  workdir, summary = reference
  assert set(summary) == {'random', 'margin'}
  for name in summary:
    np.testing.assert_array_equal(summary[name]['labels'], [40, 80, 120])
    assert summary[name]['mean'][-1] > 0.5  # 10 digit classes: chance 0.1.
    rows = report.read_metrics(os.path.join(workdir, name, 'seed_0'))
    assert [r['round'] for r in rows] == [0, 1, 2]
    assert all(r['selection_seconds'] is not None for r in rows[:-1])
    led = ledger_of(workdir, name)
    assert len(led) == 120 and len(np.unique(led.indices)) == 120
  assert os.path.getsize(os.path.join(workdir, 'learning_curve.png')) > 1000
  with open(os.path.join(workdir, 'results.md')) as f:
    assert 'margin (1 seeds)' in f.read()


def test_rerun_of_finished_run_changes_nothing(reference, tmp_path):
  workdir, _ = reference
  before = ledger_of(workdir)
  summary = active.run(load_config('digits'), workdir)
  assert_same_ledger(before, ledger_of(workdir))
  assert len(summary['margin']['labels']) == 3


@pytest.mark.parametrize('when', ['before_row', 'after_row'])
@pytest.mark.parametrize('retrain', ['scratch', 'finetune'])
def test_resume_after_interrupt_gives_the_same_ledger(
    tmp_path, monkeypatch, when, retrain):
  config = load_config('digits')
  config.al.strategies = ('margin',)
  config.al.retrain = retrain
  if retrain == 'finetune':
    reference_dir = str(tmp_path / 'reference')
    active.run(config, reference_dir)
  else:
    reference_dir = None
  workdir = str(tmp_path / 'run')
  real_append = report.append_metrics

  def crash_in_round_1(run_dir, row):
    if row['round'] == 1 and when == 'before_row':
      raise Interrupt
    real_append(run_dir, row)
    if row['round'] == 1:
      raise Interrupt
  monkeypatch.setattr(report, 'append_metrics', crash_in_round_1)
  with pytest.raises(Interrupt):
    active.run(config, workdir)
  crashed = ledger_of(workdir)
  # Round 2's labels were bought before the crash; they must survive.
  assert crashed.last_round == 2 and len(crashed) == 120
  monkeypatch.setattr(report, 'append_metrics', real_append)
  active.run(config, workdir)
  assert_same_ledger(crashed, ledger_of(workdir))
  if reference_dir:
    assert_same_ledger(ledger_of(reference_dir), ledger_of(workdir))
  rows = report.read_metrics(os.path.join(workdir, 'margin', 'seed_0'))
  assert [r['round'] for r in rows] == [0, 1, 2]


def test_resume_after_sigkill(reference, tmp_path):
  """Kill the CLI mid-run for real, rerun the same command, compare."""
  workdir = str(tmp_path / 'killed')
  args = ('--config=configs/digits.py', f'--workdir={workdir}')
  proc = subprocess.Popen(
      [sys.executable, '-m', 'al_jax.main', *args], cwd=ROOT,
      env={**os.environ, 'PYTHONPATH': ROOT}, stdout=subprocess.DEVNULL,
      stderr=subprocess.DEVNULL)
  metrics = os.path.join(workdir, 'random', 'seed_0', 'metrics.jsonl')
  deadline = time.time() + 120
  while time.time() < deadline and proc.poll() is None:
    if os.path.exists(metrics) and len(report.read_metrics(
        os.path.dirname(metrics))) >= 1:
      break
    time.sleep(0.05)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  rows = report.read_metrics(os.path.dirname(metrics))
  assert len(rows) < 3, 'the run finished before it could be killed'
  done = cli(*args, timeout=300)
  assert done.returncode == 0, done.stderr[-2000:]
  for name in ('random', 'margin'):
    assert_same_ledger(ledger_of(reference[0], name), ledger_of(workdir, name))


def test_eight_devices_select_the_same(reference, tmp_path):
  workdir = str(tmp_path / 'eight')
  flags = '--xla_force_host_platform_device_count=8'
  done = cli('--config=configs/digits.py', f'--workdir={workdir}',
             env={'XLA_FLAGS': flags}, timeout=300)
  assert done.returncode == 0, done.stderr[-2000:]
  for name in ('random', 'margin'):
    assert_same_ledger(ledger_of(reference[0], name), ledger_of(workdir, name))


def test_workdir_of_another_config_is_refused(reference):
  config = load_config('digits')
  config.al.seed_examples = 20
  with pytest.raises(ValueError, match='new --workdir'):
    active.run(config, reference[0])


def _bad(field, value):
  def change(config):
    section, key = field.split('.')
    with config.unlocked():
      config[section][key] = value
  return change


@pytest.mark.parametrize('change, message', [
    (_bad('input.source', 'cifar11'), r"Unknown source 'cifar11'.*digits"),
    (_bad('model.name', 'resnet7'), r'resnet7.*resnet18'),
    (_bad('al.strategies', ('margin', 'margn')), r"margn.*did you mean 'margin'"),
    (_bad('al.cluster_margin', {'margin_facter': 1.25}),
     r'did you mean config.al.cluster_margin.margin_factor'),
    (_bad('al.strategies', ('margin', 'boss')),
     r"boss needs every label; job 'active' knows only bought labels"),
    (_bad('train.learnin_rate', 0.1), r'did you mean config.train.learning_rate'),
    (_bad('input.sorce', 'digits'), r'did you mean config.input.source'),
    (_bad('al.rounds', 100), r'needs 4040 labels.*only 1438'),
    (_bad('al.retrain', 'warm'), r'retrain.*scratch'),
    (_bad('input.source', 'npz:/no/such/file.npz'), r'/no/such/file.npz'),
])
def test_bad_input_fails_with_a_clear_message(change, message, tmp_path):
  config = load_config('digits')
  change(config)
  with pytest.raises((ValueError, FileNotFoundError), match=message):
    active.run(config, str(tmp_path))


def test_nan_features_are_rejected(tmp_path):
  x = np.random.default_rng(0).normal(size=(100, 4)).astype(np.float32)
  x[17, 2] = np.nan
  path = tmp_path / 'pool.npz'
  np.savez(path, x_train=x, y_train=np.arange(100) % 3)
  config = load_config('digits')
  config.input.source = f'npz:{path}'
  with pytest.raises(ValueError, match=r'x_train.*17'):
    active.run(config, str(tmp_path / 'w'))


def test_cli_errors_name_the_problem_without_traceback(tmp_path):
  typo = cli('--config=configs/digits.py', f'--workdir={tmp_path}',
             '--config.al.roundz=3', timeout=120)
  assert typo.returncode != 0 and 'roundz' in typo.stderr
  assert 'Traceback' not in typo.stderr
  missing = cli('--config=configs/digits.py', f'--workdir={tmp_path}',
                '--config.input.source=tfds:cifar10',
                env={'TFDS_DATA_DIR': str(tmp_path)}, timeout=120)
  assert missing.returncode != 0
  assert 'al_jax: error:' in missing.stderr and 'tfds build' in missing.stderr
  assert 'Traceback' not in missing.stderr


def test_config_is_saved_for_provenance(reference):
  with open(os.path.join(reference[0], 'config.json')) as f:
    assert json.load(f)['al']['strategies'] == ['random', 'margin']


@pytest.fixture
def query_strategy(monkeypatch):
  monkeypatch.setitem(strategies.REGISTRY, 'query_then_draw', QueryThenDraw)
  fits = []
  fit = train.fit
  monkeypatch.setattr(train, 'fit', lambda *a, **k: fits.append(
      k.get('weights')) or fit(*a, **k))
  config = load_config('digits')
  config.al.strategies = ('query_then_draw',)
  config.al.rounds = 1
  config.train.epochs = 2
  return config, fits


def test_weighted_active_learning_with_a_mid_selection_query(
    query_strategy, tmp_path):
  config, fits = query_strategy
  active.run(config, str(tmp_path))
  led = ledger_of(str(tmp_path), 'query_then_draw')
  bought = led.indices[led.rounds == 1]
  # 3 queried + 37 draws among 5 items: 40 draws, at most 8 labels.
  assert 4 <= len(bought) <= 8 and len(np.unique(led.indices)) == len(led)
  assert led.complete == 1
  w = led.weights[led.rounds == 1]
  np.testing.assert_allclose(w.sum(), np.linspace(0.5, 2, 40).sum(),
                             rtol=1e-5)  # Repeats merged, weights summed.
  assert (led.weights[led.rounds == 0] == 1).all()
  np.testing.assert_array_equal(led.labels, active.Pool.of(
      active.sources.load(config.input)).hidden[led.indices])
  # Round 0 trains unweighted, round 1 on the ledger's weights.
  assert fits[0] is None
  np.testing.assert_array_equal(fits[1], led.weights)


def test_labels_bought_before_a_crash_are_kept_and_reused(
    query_strategy, tmp_path, monkeypatch):
  config, _ = query_strategy
  reference = str(tmp_path / 'reference')
  active.run(config, reference)
  workdir = str(tmp_path / 'crashed')
  monkeypatch.setattr(QueryThenDraw, 'crash', True)
  with pytest.raises(Interrupt):
    active.run(config, workdir)
  partial = ledger_of(workdir, 'query_then_draw')
  assert partial.complete == 0 and np.sum(partial.rounds == 1) == 3
  monkeypatch.setattr(QueryThenDraw, 'crash', False)
  reveal = oracle_lib.DatasetOracle.reveal
  asked = []
  monkeypatch.setattr(oracle_lib.DatasetOracle, 'reveal',
                      lambda self, i, *args: asked.append(
                          np.asarray(i).tolist()) or reveal(self, i, *args))
  active.run(config, workdir)
  # The 3 labels bought before the crash are not bought again.
  assert not set(sum(asked, [])) & set(partial.indices[partial.rounds == 1])
  final = ledger_of(workdir, 'query_then_draw')
  ref = ledger_of(reference, 'query_then_draw')
  assert_same_ledger(final, ref)
  np.testing.assert_array_equal(final.weights, ref.weights)


def test_a_truncated_ledger_is_named_not_a_traceback(tmp_path):
  config = load_config('digits')
  run_dir = tmp_path / 'random' / 'seed_0'
  run_dir.mkdir(parents=True)
  (run_dir / 'ledger.npz').write_bytes(b'PK\x03\x04truncated')
  with pytest.raises(ValueError, match=r'ledger.npz is unreadable.*untouched'):
    active.run(config, str(tmp_path))
  assert (run_dir / 'ledger.npz').read_bytes() == b'PK\x03\x04truncated'
