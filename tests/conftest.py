"""Shared fixtures: the tiny embedded configs, loaded as the CLI loads them."""

import os
import sys

import jax
import numpy as np
import pytest

from al_jax import config_check
from al_jax.strategies import base

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)  # For third_party/, the peer adapters.


def load_config(name: str, arg=None):
  return config_check.load_file(os.path.join(ROOT, 'configs', f'{name}.py'),
                                arg)


@pytest.fixture
def digits_config():
  """configs/digits.py: digits + MLP, 40 seed labels, 2 rounds of 40."""
  return load_config('digits')


def same_on_eight_devices(script: str):
  """Runs `script`'s picks(mesh) on 8 simulated devices and on this process's
  one device; returns both results (JSON-decoded) for comparison."""
  import json
  import subprocess
  import sys
  main = ('import json\nimport jax\nfrom al_jax import sharding\n'
          'assert jax.device_count() == 8\n'
          'print(json.dumps(picks(sharding.make_mesh())))')
  env = dict(os.environ, XLA_FLAGS='--xla_force_host_platform_device_count=8',
             JAX_PLATFORMS='cpu', PYTHONPATH=ROOT)
  out = subprocess.run([sys.executable, '-c', script + main], env=env,
                       capture_output=True, text=True, timeout=120)
  assert out.returncode == 0, out.stderr
  many = json.loads(out.stdout.strip().splitlines()[-1])
  scope = {}
  exec(script, scope)  # pylint: disable=exec-used
  return many, json.loads(json.dumps(scope['picks'](None)))


def active_ctx(labeled_mask, labels, num_classes, outputs, mesh=None,
               round_=0, pairs=None, query=None):
  """An active-learning Context: the unlabeled items are the candidates."""
  labeled_mask = np.asarray(labeled_mask, bool)
  return base.Context(~labeled_mask, chosen=labeled_mask, labels=labels,
                      num_classes=num_classes, outputs=outputs, mesh=mesh,
                      round_=round_, pairs=pairs, query=query)


class Interrupt(Exception):
  pass


class QueryThenDraw:
  """A registered-strategy stand-in: buys 3 labels with `ctx.query`, then
  draws the rest of the budget with replacement, weighted (as paper 001's
  sampling does), and optionally crashes right after the query."""
  OPTIONS = {}
  NEEDS = (base.QUERY,)
  crash = False

  @classmethod
  def make(cls):
    def select(state, ctx, budget, key):
      cand = ctx.candidate_indices
      first = cand[np.asarray(jax.random.choice(key, len(cand), (3,),
                                                replace=False))]
      ctx.query(first)
      if cls.crash:
        raise Interrupt('killed after buying 3 labels')
      rest = cand[np.asarray(jax.random.choice(
          jax.random.fold_in(key, 1), 5, (budget - 3,)))]  # Repeats.
      idx = np.concatenate([first, rest])
      return base.Selection(idx, np.linspace(0.5, 2, len(idx))), state
    return base.Strategy(base.no_state, select)


def dense_cross_entropy(n: int, d: int, c: int, seed: int = 0):
  """A last layer on random features: (apply(params, z) -> logits, params,
  z [n, d] float32, y [n], loss(params, z_i, y_i) -> its cross-entropy),
  for checking closed-form last-layer derivatives against jax's."""
  import flax.linen as nn  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(seed)
  z = rng.normal(size=(n, d)).astype(np.float32)
  y = rng.integers(0, c, n)
  dense = nn.Dense(c)
  params = dense.init(jax.random.key(0), z)['params']

  def apply(p, zi):
    return dense.apply({'params': p}, zi)

  def loss(p, zi, yi):
    return -jax.nn.log_softmax(apply(p, zi))[yi]
  return apply, params, z, y, loss
