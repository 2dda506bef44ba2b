"""Work directories that survive misuse: the lock, config changes on resume,
more rounds, more seeds."""

import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from al_jax import train
from al_jax.input import ledger as ledger_lib
from al_jax.loops import active
from al_jax.loops import rundir
from conftest import ROOT, load_config


def _config(rounds=1, seeds=(0,)):
  config = load_config('digits')
  config.al.strategies = ('margin',)
  config.al.rounds = rounds
  config.seeds = seeds
  config.train.epochs = 3
  return config


def _ledger(workdir, seed=0):
  return ledger_lib.Ledger.load(
      os.path.join(workdir, 'margin', f'seed_{seed}', 'ledger.npz'))


def test_a_second_process_is_refused_and_a_dead_ones_lock_taken_over(
    tmp_path, caplog):
  holder = subprocess.Popen(
      [sys.executable, '-c',
       'import sys, time\nfrom al_jax.loops import rundir\n'
       f'with rundir.lock({str(tmp_path)!r}):\n'
       '  print("locked", flush=True)\n  time.sleep(60)'],
      stdout=subprocess.PIPE, text=True, cwd=ROOT,
      env={**os.environ, 'PYTHONPATH': ROOT})
  try:
    assert holder.stdout.readline().strip() == 'locked'
    with pytest.raises(rundir.WorkdirBusy, match=f'pid {holder.pid} on'):
      active.run(_config(), str(tmp_path))
  finally:
    holder.send_signal(signal.SIGKILL)
    holder.wait()
  with rundir.lock(str(tmp_path)):  # The OS released the dead one's lock.
    pass
  assert f'took over the lock of pid {holder.pid}' in caplog.text


def test_more_rounds_continue_a_finished_run(tmp_path):
  fresh = str(tmp_path / 'fresh')
  active.run(_config(rounds=2), fresh)
  workdir = str(tmp_path / 'extended')
  active.run(_config(rounds=1), workdir)
  assert _ledger(workdir).complete == 1
  active.run(_config(rounds=2), workdir)
  led, want = _ledger(workdir), _ledger(fresh)
  assert sorted(set(led.rounds.tolist())) == [0, 1, 2]
  np.testing.assert_array_equal(led.indices, want.indices)
  rows = active.report.read_metrics(os.path.join(workdir, 'margin', 'seed_0'))
  assert [r['labels'] for r in rows] == [40, 80, 120]
  with pytest.raises(ValueError, match='rounds may be added, not removed'):
    active.run(_config(rounds=1), workdir)


def test_more_seeds_run_only_the_new_ones(tmp_path, monkeypatch):
  workdir = str(tmp_path)
  active.run(_config(), workdir)
  fits = []
  fit = train.fit
  monkeypatch.setattr(train, 'fit', lambda *a, **k: fits.append(1) or fit(
      *a, **k))
  summary = active.run(_config(seeds=(0, 1)), workdir)
  assert len(fits) == 2  # Seed 1's two rounds; seed 0 is complete.
  assert summary['margin']['seeds'] == 2


@pytest.mark.parametrize('key, value, message', [
    ('al.budget_examples', 50, r'al.budget_examples: 40 -> 50'),
    ('train.learning_rate', 0.5, r'train.learning_rate: 0.003 -> 0.5'),
    ('input.seed', 3, r'input.seed: 0 -> 3'),
])
def test_a_config_change_that_alters_completed_rounds_is_refused(
    tmp_path, key, value, message):
  active.run(_config(), str(tmp_path))
  before = _ledger(str(tmp_path))
  config = _config(rounds=2)
  section, name = key.split('.')
  config[section][name] = value
  with pytest.raises(ValueError, match=message):
    active.run(config, str(tmp_path))
  np.testing.assert_array_equal(_ledger(str(tmp_path)).indices,
                                before.indices)
