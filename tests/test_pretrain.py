"""The pre-training job (paper 000 section 3.2) and its hand-over to the
active loop: the checkpoint carries the weights and the step count."""

import json
import os

import jax
import numpy as np

from al_jax import checkpoints
from al_jax import models
from al_jax import optim
from al_jax import train
from al_jax.input import sources
from al_jax.loops import active
from al_jax.loops import pretrain
from conftest import load_config


def _pretrain_config(steps=20):
  config = load_config('openimages_cm', 'synthetic')
  config.job = 'pretrain'
  config.seed = 0
  del config.seeds
  del config.al
  config.input.num_examples = 600
  config.input.num_classes = 10
  config.input.seed = 7  # Another draw than the active run's pool.
  config.train.steps = steps
  return config


def _step_of(config, path):
  ds_shape = (config.input.num_features,)
  model = models.from_config(config.model, config.input.num_classes)
  blank = train.create_state(model, ds_shape, optim.make_optimizer(
      config.train), jax.random.key(0))
  return int(checkpoints.restore_variables(path, blank).step)


def test_pretrain_then_active_run_continues_the_step(tmp_path):
  pre_dir = str(tmp_path / 'pre')
  config = _pretrain_config()
  summary = pretrain.run(config, pre_dir)
  ds = sources.load(config.input)
  assert summary['examples'] == int(np.sum((ds.y_train.dense() >= 0).any(1)))
  assert summary['step'] == 20 and 0 < summary['test_pooled_ap'] <= 1
  assert _step_of(config, summary['checkpoint']) == 20
  # A finished work dir is not trained again.
  mtime = os.path.getmtime(os.path.join(pre_dir, pretrain.SUMMARY))
  assert pretrain.run(config, pre_dir) == summary
  assert os.path.getmtime(os.path.join(pre_dir, pretrain.SUMMARY)) == mtime

  al_config = load_config('openimages_cm', 'synthetic')
  al_config.seeds = (0,)
  al_config.input.num_examples = 600
  al_config.input.num_classes = 10
  al_config.train.steps = 5
  al_config.train.init_checkpoint = summary['checkpoint']
  al_config.al.strategies = ('random',)
  al_config.al.seed_examples, al_config.al.budget_examples = 200, 50
  al_config.al.rounds = 1
  al_config.al.retrain = 'finetune'
  workdir = str(tmp_path / 'al')
  active.run(al_config, workdir)
  # Round 0 starts from the checkpoint's step, round 1 fine-tunes on.
  blank = train.create_state(
      models.from_config(al_config.model, al_config.input.num_classes),
      (al_config.input.num_features,),
      optim.make_optimizer(al_config.train), jax.random.key(0))
  round_models = checkpoints.RoundModels(
      os.path.join(workdir, 'random', 'seed_0', 'model'))
  assert round_models.rounds() == [1]  # The latest round only.
  assert int(round_models.restore(1, blank)[0].step) == 20 + 5 + 5
  with open(os.path.join(pre_dir, 'config.json')) as f:
    assert json.load(f)['job'] == 'pretrain'
