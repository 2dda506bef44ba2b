"""The trimming job (paper 004): end to end on two Gaussians, resume, and
bad input named before any data is drawn."""

import os

import pytest

from al_jax import report
from al_jax.loops import trim
from conftest import load_config


def small_config():
  config = load_config('trim_2d', 'quick')
  config.seeds = (0, 1)
  config.trim.removals = (0, 5, 10)
  config.trim.random_draws = 2
  return config


@pytest.fixture(scope='module')
def finished(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp('trim'))
  return workdir, trim.run(small_config(), workdir)


def test_end_to_end(finished):
  workdir, summary = finished
  assert set(summary) == {'fi_util', 'iv', 'random'}
  for name, s in summary.items():
    assert s['labels'].tolist() == [0, 5, 10] and s['seeds'] == 2
    assert ((0.8 < s['mean']) & (s['mean'] <= 1)).all(), name
  # b = 0 is the untrimmed model: the same for every method.
  assert len({round(s['mean'][0], 12) for s in summary.values()}) == 1
  rows = report.read_metrics(os.path.join(workdir, 'fi_util', 'seed_0'))
  assert all(r['base_grad_norm'] < 1e-10 and r['grad_norm'] < 1e-10
             for r in rows)
  assert 'weight decay 0.01' in rows[1]['notes'][0]
  assert os.path.exists(os.path.join(workdir, 'trim_accuracy.png'))


def test_resume_keeps_rows_and_appends_removals(finished, tmp_path):
  workdir, _ = finished
  run_dir = os.path.join(workdir, 'iv', 'seed_1')
  before = report.read_metrics(run_dir)
  config = small_config()
  config.trim.removals = (0, 5, 10, 20)
  trim.run(config, workdir)
  after = report.read_metrics(run_dir)
  assert after[:3] == before and after[3]['removed'] == 20
  config.trim.removals = (0, 10)
  with pytest.raises(ValueError, match='removals'):
    trim.run(config, workdir)


@pytest.mark.parametrize('change, message', [
    (lambda c: c.trim.update(methods=('fi_utill',)), "did you mean 'fi_util'"),
    (lambda c: c.trim.update(removals=(10, 5)), 'must increase'),
    (lambda c: c.trim.update(removals=(0, 149)), 'leaves too few'),
    (lambda c: c.model.update(name='cnn'), 'valid:'),
    (lambda c: c.input.update(source='adultt'), 'valid:'),
    (lambda c: c.trim.fi_util.update(scale='paper'), 'scale'),
])
def test_bad_input_is_named(change, message, tmp_path):
  config = small_config()
  config.seeds = (0,)
  change(config)
  with pytest.raises(ValueError, match=message):
    trim.run(config, str(tmp_path))
