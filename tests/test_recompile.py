"""Rounds of different sizes reuse one compiled train step and predict."""

import jax
import ml_collections
import numpy as np

from al_jax import models
from al_jax import sharding
from al_jax import train


def test_rounds_do_not_recompile(caplog):
  rng = np.random.default_rng(0)
  x = rng.normal(size=(300, 5)).astype(np.float32)
  y = (x[:, 0] > 0).astype(np.int32)
  cfg = ml_collections.ConfigDict(dict(
      optimizer='momentum', learning_rate=0.1, schedule='cosine',
      warmup_steps=3, batch_size=16, epochs=2))
  model = models.get_model('mlp', 2, hidden_sizes=(8,))
  mesh = sharding.make_mesh()
  train.train_step.clear_cache()
  train._predict_step.clear_cache()
  state = None
  with jax.log_compiles(True), caplog.at_level('WARNING'):
    for r, n in enumerate((20, 50, 130)):  # growing labeled set, new schedule
      state = train.fit(cfg, model, x, y, np.arange(n), jax.random.key(r),
                        mesh, state=state)
      train.predict(state, x[:n + 7], mesh, batch_size=32)
  compiled = [r.getMessage().split()[1] for r in caplog.records
              if r.getMessage().startswith('Compiling ')]
  assert compiled.count('jit(train_step)') == 1, compiled
  assert compiled.count('jit(_predict_step)') == 1, compiled
