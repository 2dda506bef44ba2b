"""Pools larger than memory: images in ArrayRecord files, decoded on access
(in grain workers for the pool pass); the active job's memory stays flat in
the pool size; a multi-label record pool runs the Open Images config."""

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from al_jax import models
from al_jax import optim
from al_jax import sharding
from al_jax import train
from al_jax.input import ledger
from al_jax.input import records
from al_jax.input import sources
from al_jax.input import sparse_labels
from al_jax.input import synthetic
from al_jax.loops import active
from conftest import load_config
from conftest import ROOT

EDGE = 64


def _images(n, seed):
  return synthetic.stamped_images(n, EDGE, seed)


def _pool(folder, n, n_test=200):
  y = (np.arange(n) % 10).astype(np.int32)
  records.write(folder, 'train', _images(n, 0), y,
                np.array([f'img{i:06d}' for i in range(n)]), 10,
                image_format='JPEG')
  records.write(folder, 'test', _images(n_test, 1),
                (np.arange(n_test) % 10).astype(np.int32),
                np.array([f't{i}' for i in range(n_test)]), 10,
                image_format='JPEG')
  return str(folder)


def test_record_array_decodes_only_what_is_asked(tmp_path):
  images = list(_images(30, 0))
  records.write(str(tmp_path), 'train', images, np.zeros(30, np.int32),
                np.arange(30).astype(str), 1)
  x = records.RecordArray(str(tmp_path / 'train.array_record'), EDGE)
  assert x.shape == (30, EDGE, EDGE, 3) and len(x) == 30 and x.ndim == 4
  np.testing.assert_array_equal(x[7], images[7])  # PNG: lossless.
  np.testing.assert_array_equal(x[np.array([5, 1])], [images[5], images[1]])
  np.testing.assert_array_equal(x[2:4], images[2:4])
  view = x.lazy_rows(np.array([9, 3]))
  np.testing.assert_array_equal(view[1], images[3])
  assert records.RecordArray(x.path, 16)[0].shape == (16, 16, 3)  # Resized.
  with pytest.raises(TypeError, match='not turned into one array'):
    np.asarray(x)


def test_source_subsamples_without_decoding(tmp_path):
  folder = _pool(tmp_path / 'pool', 50, n_test=10)
  ds = sources.load({'source': f'arrayrecord:{folder}',
                     'max_train_examples': 20})
  assert isinstance(ds.x_train, records.RecordArray) and ds.is_image
  assert len(ds.x_train) == 20 and ds.num_classes == 10
  rows = [int(i[3:]) for i in ds.train_ids]
  np.testing.assert_array_equal(ds.y_train, np.array(rows) % 10)
  with pytest.raises(FileNotFoundError, match='no .*test.array_record'):
    os.remove(os.path.join(folder, 'test.array_record'))
    sources.load({'source': f'arrayrecord:{folder}'})


# Runs the job as its only child and prints the peak resident set of its
# children (getrusage(RUSAGE_CHILDREN), kilobytes): this test's own process
# has had other children, whose peaks would mask the job's.
_MEASURE = """
import resource, subprocess, sys
job = subprocess.run(sys.argv[1:], capture_output=True, text=True)
sys.stderr.write(job.stderr[-3000:])
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(job.returncode)
"""


def _peak_rss_of_job(folder, workdir) -> int:
  """Bytes: the peak resident set of the active job on `folder`'s pool."""
  proc = subprocess.run(
      [sys.executable, '-c', _MEASURE, sys.executable, '-m', 'al_jax.main',
       '--config=configs/digits.py', f'--workdir={workdir}',
       f'--config.input.source=arrayrecord:{folder}',
       '--config.al.strategies=("margin",)', '--config.al.rounds=1',
       '--config.train.epochs=2', '--config.train.predict_batch_size=512'],
      cwd=ROOT, capture_output=True, text=True, timeout=120,
      env={**os.environ, 'PYTHONPATH': ROOT, 'JAX_PLATFORMS': 'cpu'})
  assert proc.returncode == 0, proc.stderr[-3000:]
  return int(proc.stdout.split()[-1]) * 1024


def test_active_job_memory_is_flat_in_the_pool_size(tmp_path):
  small, large = 2_000, 42_000
  decoded = (large - small) * EDGE * EDGE * 3  # 492 MB more pixels.
  peak_small = _peak_rss_of_job(_pool(tmp_path / 'small', small),
                                str(tmp_path / 'w_small'))
  peak_large = _peak_rss_of_job(_pool(tmp_path / 'large', large),
                                str(tmp_path / 'w_large'))
  growth = peak_large - peak_small
  assert decoded >= 4 * growth, (decoded, growth)


def test_pool_pass_in_grain_workers_equals_the_one_in_threads(tmp_path):
  folder = _pool(tmp_path / 'pool', 300, n_test=10)
  mesh = sharding.make_mesh()
  model = models.get_model('cnn', 10)
  outputs = []
  for workers in (0, 2):
    ds = sources.load({'source': f'arrayrecord:{folder}', 'image_size': 16,
                       'workers': workers})
    assert ds.x_train.workers == workers
    state = train.create_state(model, ds.input_shape, optim.make_optimizer(
        {'optimizer': 'sgd', 'learning_rate': 0.1}), jax.random.key(0))
    outputs.append(train.predict(state, ds.x_train, mesh, batch_size=64))
  for threads, grain_workers in zip(*outputs):
    np.testing.assert_array_equal(threads, grain_workers)


def test_open_images_config_streams_a_multilabel_record_pool(tmp_path):
  config = load_config('openimages_cm', 'arrayrecord_synthetic')
  config.input.source = f'multilabel_records:{tmp_path / "pool"}'
  config.input.num_examples, config.input.image_size = 1200, 16
  config.train.steps, config.train.predict_batch_size = 5, 256
  config.al.seed_examples, config.al.budget_examples = 400, 100
  active.run(config, str(tmp_path / 'work'))
  ds = sources.load(config.input)
  assert isinstance(ds.x_train, records.RecordArray)
  assert isinstance(ds.y_train, sparse_labels.SparseLabels)
  pool = active.Pool.of(ds)
  for name in config.al.strategies:
    led = ledger.Ledger.load(str(tmp_path / 'work' / name / 'seed_0' /
                                 'ledger.npz'))
    assert len(led.indices) == 400 + 2 * 100  # Pairs, 2 rounds.
    np.testing.assert_array_equal(led.labels, pool.hidden[led.indices])
  with open(tmp_path / 'work' / 'random' / 'seed_0' / 'metrics.jsonl') as f:
    aps = [json.loads(line)['test_pooled_ap'] for line in f]
  assert len(aps) == 3 and all(0 < ap <= 1 for ap in aps)
