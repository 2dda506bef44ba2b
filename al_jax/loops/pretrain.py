"""Supervised pre-training: one model on every label of a split, saved as
the starting point of active-learning runs (``config.job = 'pretrain'``).

Paper 000 section 3.2: "all trials are initialized with a model pre-trained
on the validation split using 150K batch SGD steps". A config names the split
to train on as ``input.train_split`` and the test split as usual:

  python -m al_jax.main --config=configs/openimages_pretrain.py --workdir=P
  python -m al_jax.main --config=configs/openimages_cm.py --workdir=W \
      --config.train.init_checkpoint=P/model

Work dir: ``model/`` (params, BatchNorm statistics and the step count, so a
global schedule - `optim.global_schedule` - continues from the pre-training's
last step) and ``pretrain.json`` (the test metric, written last). A finished
work dir is not trained again. Training is one `train.fit`: a run killed
before the end starts over.
"""

import functools
import json
import os
import time

from etils import epath
import jax
import numpy as np
import tqdm

from al_jax import checkpoints
from al_jax import config_check
from al_jax import models
from al_jax import sharding
from al_jax import train
from al_jax.input import sources
from al_jax.input import sparse_labels
from al_jax.loops import rundir
from al_jax.loops.pool import Pool

TOP_KEYS = ('job', 'seed', 'input', 'model', 'train')
FREE_KEYS = ('train.predict_batch_size',)
SUMMARY = 'pretrain.json'


def check_config(config):
  config_check.check_keys(config, TOP_KEYS, 'config')
  train.check_config(config.train)
  config_check.check_keys(config.input, sources.INPUT_KEYS, 'config.input')


def labeled_rows(y) -> np.ndarray:
  """[M] rows of y ([N], -1 unknown, or multi-label `SparseLabels`) that
  carry a known label."""
  if y.ndim == 2:
    y = sparse_labels.as_sparse(y)
    return np.unique(y.image[y.value >= 0])
  return np.flatnonzero(y >= 0)


def run(config, workdir: str) -> dict:
  """Trains on every known label of the train split; returns the summary."""
  check_config(config)
  with rundir.open_workdir(workdir, config, FREE_KEYS):
    summary_path = os.path.join(workdir, SUMMARY)
    if epath.Path(summary_path).exists():
      return json.loads(epath.Path(summary_path).read_text())
    ds = sources.load(config.input)
    pool = Pool.of(ds)
    idx = labeled_rows(ds.y_train)
    model = models.from_config(config.model, ds.num_classes)
    mesh = sharding.make_mesh()
    steps = train.num_steps(config.train, len(idx))
    with tqdm.tqdm(total=steps, unit='step', dynamic_ncols=True,
                   desc=f'pretrain on {len(idx)} examples') as bar:

      def progress(step, loss):
        bar.n = step + 1
        bar.set_postfix(loss=f'{loss:.4f}')
        bar.refresh()

      t0 = time.perf_counter()
      state = train.fit(config.train, model, ds.x_train, ds.y_train, idx,
                        jax.random.key(int(config.get('seed', 0))), mesh,
                        progress=progress)
      seconds = time.perf_counter() - t0
    model_dir = rundir.absolute(os.path.join(workdir, 'model'))
    checkpoints.save_variables(model_dir, state)
    summary = {pool.metric: pool.evaluate(functools.partial(
        train.predict, state, mesh=mesh,
        batch_size=config.train.get('predict_batch_size', 1024)),
                                          ds.x_test, ds.y_test),
               'examples': int(len(idx)), 'step': int(state.step),
               'train_seconds': round(seconds, 3), 'checkpoint': model_dir}
    rundir.atomic_write(summary_path,
                        lambda f: f.write(json.dumps(summary, indent=2)), 'w')
    return summary
