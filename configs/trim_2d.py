"""Paper 004 Tables 1–2: FI-util vs IV trimming on 2-D toy data.

  python -m al_jax.main --config=configs/trim_2d.py --workdir=DIR
  python -m al_jax.main --config=configs/trim_2d.py:moons --workdir=DIR

Default (Table 1): per seed (30) a fresh draw of two isotropic 2-D
Gaussians, 150 training / 100 validation / 600 test rows (`input.trim_data`:
the paper gives no means or spread; ours have Bayes accuracy 96.0%, the
table's level), logistic regression with weight decay 0.01 (unstated; the
toy l2_reg of Chhabra et al.'s code, which IV uses too).

``moons`` (Table 2): per seed (20) 500 / 250 / 250 rows of scikit-learn's
two crescents (noise 0.3, unstated), an MLP with two ReLU hidden layers of
16 (width unstated) and a sigmoid output, weight decay 1e-3 (unstated);
ReLU kinks leave ‖∇R‖ ~ 1e-2 however long L-BFGS runs (reported per row),
so fits stop after 1,000 iterations (~1.5 s each on 2 CPU cores; 5,000
lower R by only ~1e-4 more). FI-util runs over all parameters (p = 337);
IV is Chhabra et al.'s last-layer variant.

Both: the model trained to a (near-)stationary point of the mean loss +
(wd/2)‖θ‖², then FI-util (J = −(1/n)H⁻¹C of appendix A, and
``fi_algorithm``: H⁻¹C as Algorithms 1–2 write it; wave2.md 3.9 pitfall
1), IV and random trimming (5 draws) of b = 5, 10, 20 rows and a retrain
from scratch (b = 0: the untrimmed model).
Variants: ``chhabra``: Table 1 with Gaussians placed as in Chhabra et al.'s
toy set (class means ≈ (3.09, −3.12) and (0.97, 2.10), s.d. 1.5: away from
the origin, where IV's surrogate has no intercept); ``quick`` (3 seeds).
"""

import ml_collections

from al_jax import config_check
from al_jax import strategies
from al_jax.influence import iv


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  v = config_check.parse_arg(arg, moons=False, chhabra=False, quick=False)
  config = ml_collections.ConfigDict()
  config.job = 'trim'
  config.seeds = tuple(range(3 if v.quick else 20 if v.moons else 30))
  if v.moons:
    config.input = ml_collections.ConfigDict(dict(source='moons'))
    config.model = ml_collections.ConfigDict(dict(name='mlp', widths=(16, 16),
                                                  max_iter=1000))
  else:
    config.input = ml_collections.ConfigDict(dict(source='gaussians'))
    if v.chhabra:
      config.input.update(means=((3.09, -3.12), (0.97, 2.10)), sigma=1.5)
    config.model = ml_collections.ConfigDict(dict(name='logreg'))
  config.trim = ml_collections.ConfigDict()
  config.trim.methods = ('fi_util', 'fi_algorithm', 'iv', 'random')
  config.trim.removals = (0, 5, 10, 20)
  config.trim.weight_decay = 1e-3 if v.moons else 0.01
  config.trim.random_draws = 5
  config.trim.fi_util = strategies.options('fi_util')
  config.trim.fi_algorithm = strategies.options('fi_util', scale='algorithm')
  config.trim.iv = strategies.options('iv', l2_reg=iv.L2_REG['toy'])
  return config
