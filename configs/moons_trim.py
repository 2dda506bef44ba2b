"""Paper 004 Table 2: FI-util vs IV trimming on two crescents with an MLP.

  python -m al_jax.main --config=configs/moons_trim.py --workdir=DIR

Per seed (20) a fresh draw of 500 training / 250 validation / 250 test rows
of scikit-learn's two moons (noise 0.3: unstated in the paper), an MLP with
two ReLU hidden layers of 16 (width unstated) and a sigmoid output, trained
to a (near-)stationary point of the mean loss + (wd/2)‖θ‖² with wd 1e-3
(unstated; ReLU kinks leave ‖∇R‖ ~ 1e-2, reported per row), then FI-util
(over all parameters, p = 337), IV (Chhabra et al.'s last-layer variant)
and random trimming of b = 5, 10, 20 rows and a retrain from scratch.

Variants: ``quick`` (2 seeds).
"""

import ml_collections

from al_jax import config_check
from al_jax import strategies
from al_jax.influence import iv


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  v = config_check.parse_arg(arg, quick=False)
  config = ml_collections.ConfigDict()
  config.job = 'trim'
  config.seeds = tuple(range(2 if v.quick else 20))
  config.input = ml_collections.ConfigDict(dict(source='moons'))
  config.model = ml_collections.ConfigDict(dict(name='mlp', widths=(16, 16)))
  config.trim = ml_collections.ConfigDict()
  config.trim.methods = ('fi_util', 'iv', 'random')
  config.trim.removals = (0, 5, 10, 20)
  config.trim.weight_decay = 1e-3
  config.trim.random_draws = 5
  config.trim.fi_util = strategies.options('fi_util')
  config.trim.iv = strategies.options('iv', l2_reg=iv.L2_REG['toy'])
  return config
