"""Metrics files, and the tables and plots made from them.

A run directory holds ``metrics.jsonl``: one JSON object per completed round
with at least ``round``, ``labels``, a metric and ``strategy``. A work dir holds
one run directory per strategy and seed: ``<workdir>/<strategy>/seed_<s>``.
"""

import collections
import json
import os

from etils import epath

import matplotlib
matplotlib.use('Agg')  # No display on training machines.
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np

from al_jax import distributed
from al_jax.loops import rundir

METRICS = 'metrics.jsonl'


def read_metrics(run_dir: str, name: str = METRICS) -> list[dict]:
  path = epath.Path(run_dir) / name
  if not path.exists():
    return []
  return [json.loads(line) for line in path.read_text().splitlines()
          if line.strip()]


def write_metrics(run_dir: str, rows: list[dict], name: str = METRICS):
  """Replaces a JSONL file atomically (process 0 of a job writes)."""
  rundir.atomic_write(os.path.join(run_dir, name), lambda f: f.writelines(
      json.dumps(r) + '\n' for r in rows), 'w')


def append_metrics(run_dir: str, row: dict, name: str = METRICS):
  """Appends one row (synced); with `log_to_tensorboard`, its numbers also
  go to <run_dir>/tensorboard as scalars at step ``row['round']``. Process
  0 of a job writes."""
  if not distributed.is_main():
    return
  if not rundir.is_local(run_dir):  # Object stores do not append.
    write_metrics(run_dir, read_metrics(run_dir, name) + [row], name)
  else:
    with open(os.path.join(run_dir, name), 'a') as f:
      f.write(json.dumps(row) + '\n')
      f.flush()
      os.fsync(f.fileno())
  if _TENSORBOARD['on']:
    _tensorboard_scalars(run_dir, row)


# Whether metrics rows also go to TensorBoard (the command line's
# --tensorboard).
_TENSORBOARD = {'on': False}


def log_to_tensorboard():
  """From now on, metrics rows are also TensorBoard scalars (event files
  written by tensorboardX: no TensorFlow needed).

  Raises:
    ImportError: tensorboardX is not installed (named, with the fix).
  """
  try:
    import tensorboardX  # pylint: disable=g-import-not-at-top,unused-import
  except ImportError as e:
    raise ImportError('--tensorboard needs tensorboardX: pip install '
                      "tensorboardX (or al_jax's 'tensorboard' extra).") from e
  _TENSORBOARD['on'] = True


def _tensorboard_scalars(run_dir: str, row: dict):
  """One event file per row, closed at once: tensorboardX writes from a
  background queue that only `close` drains, and a run may be killed at any
  time (TensorBoard reads every event file of the folder)."""
  import tensorboardX  # pylint: disable=g-import-not-at-top
  writer = tensorboardX.SummaryWriter(os.path.join(run_dir, 'tensorboard'),
                                      filename_suffix=f'.round_{row["round"]}')
  for key, value in row.items():
    if isinstance(value, (int, float)) and not isinstance(value, bool) and (
        key != 'round'):
      writer.add_scalar(key, value, int(row['round']))
  writer.close()


def seed_rows(workdir: str, entry: str) -> dict[int, list[dict]]:
  """{seed: metrics rows} of one entry's runs (<workdir>/<entry>/seed_<s>)."""
  return {int(p.name.split('_')[1]): read_metrics(str(p))
          for p in sorted(epath.Path(workdir, entry).iterdir())
          if p.name.startswith('seed_')}


def number(value, digits: int = 4) -> str:
  """A metric for people: 'n/a' when there is none (no test labels)."""
  return 'n/a' if value is None else f'{value:.{digits}f}'


def summarize(workdir: str, metric: str,
              x: str = 'labels') -> dict[str, dict[str, np.ndarray]]:
  """Mean and standard error over seeds of `metric`, per strategy and round.

  Args:
    workdir: holds <strategy>/seed_<s>/metrics.jsonl.
    metric: the row field averaged.
    x: the row field of the x axis (active learning: 'labels'; one-shot
      subsets: 'fraction').

  Returns:
    {strategy: {'labels': [R] x values, 'mean': [R], 'se': [R], 'seeds':
    int}} over the rounds that every seed of the strategy completed.
  """
  runs = collections.defaultdict(list)
  for path in sorted(epath.Path(workdir).glob(f'*/seed_*/{METRICS}')):
    rows = read_metrics(str(path.parent))
    if rows:
      runs[rows[0]['strategy']].append(rows)
  out = {}
  for name, seed_rows in runs.items():
    r = min(len(rows) for rows in seed_rows)
    # float: a metric without test labels (None) becomes NaN.
    values = np.array([[row[metric] for row in rows[:r]]
                       for rows in seed_rows], float)
    n = len(seed_rows)
    out[name] = {
        'labels': np.array([row[x] for row in seed_rows[0][:r]]),
        'mean': values.mean(0),
        'se': values.std(0, ddof=1) / np.sqrt(n) if n > 1 else 0 * values[0],
        'seeds': n,
    }
  return out


def paired_differences(workdir: str, a: str, b: str, seeds, metric: str):
  """Per round: (mean, s.e., wins, losses) over seeds of metric(a) - metric(b).

  Runs of the same seed share their random numbers (data order, init), so
  paired differences are the sharper comparison.
  """
  rows = {s: (read_metrics(os.path.join(workdir, a, f'seed_{s}')),
              read_metrics(os.path.join(workdir, b, f'seed_{s}')))
          for s in seeds}
  n = min(min(len(ra), len(rb)) for ra, rb in rows.values())
  out = []
  for i in range(n):
    d = np.array([ra[i][metric] - rb[i][metric] for ra, rb in rows.values()])
    se = d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else 0.0
    out.append((d.mean(), se, int((d > 0).sum()), int((d < 0).sum())))
  return out


def paired_table(workdir: str, a: str, others, seeds, metric: str, xs,
                 x: str = 'labels') -> str:
  """Markdown: one row per x, one column per `others` entry b, cells
  'mean ± s.e. (wins/losses)' of `paired_differences(a, b)`."""
  diffs = {b: paired_differences(workdir, a, b, seeds, metric) for b in others}
  lines = [f'| {x} | ' + ' | '.join(f'{a} − {b}' for b in others) + ' |',
           '|---' * (len(others) + 1) + '|']
  for i, v in enumerate(xs):
    lines.append(f'| {v:g} | ' + ' | '.join(
        f'{m:+.4f} ± {se:.4f} ({w}/{l})'
        for m, se, w, l in (diffs[b][i] for b in others)) + ' |')
  return '\n'.join(lines)


def table(summary: dict, metric: str, x: str = 'labels') -> str:
  """A markdown table: one row per x value (label count), one column per
  strategy."""
  names = sorted(summary)
  lines = [f'| {x} | ' + ' | '.join(
      f'{n} ({summary[n]["seeds"]} seeds)' for n in names) + ' |',
           '|---' * (len(names) + 1) + '|']
  labels = sorted({l.item() for n in names for l in summary[n]['labels']})
  for l in labels:
    cells = []
    for n in names:
      hit = np.flatnonzero(summary[n]['labels'] == l)
      cells.append(f'{summary[n]["mean"][hit[0]]:.4f} ± '
                   f'{summary[n]["se"][hit[0]]:.4f}' if len(hit) else '')
    lines.append(f'| {l} | ' + ' | '.join(cells) + ' |')
  return f'{metric} (mean ± s.e. over seeds)\n' + '\n'.join(lines)


def plot(summary: dict, metric: str, path: str, title: str = '',
         xlabel: str = 'labels bought'):
  """Learning curves (mean with a ±1 s.e. band) saved as a PNG."""
  fig, ax = plt.subplots(figsize=(6, 4))
  for name in sorted(summary):
    s = summary[name]
    ax.plot(s['labels'], s['mean'], marker='o', label=name)
    ax.fill_between(s['labels'], s['mean'] - s['se'], s['mean'] + s['se'],
                    alpha=0.2)
  ax.set_xlabel(xlabel)
  ax.set_ylabel(metric)
  ax.set_title(title)
  ax.grid(alpha=0.3)
  ax.legend()
  fig.tight_layout()
  with epath.Path(path).open('wb') as f:
    fig.savefig(f, dpi=120, format=os.path.splitext(str(path))[1][1:] or 'png')
  plt.close(fig)


def write_summary(workdir: str, metric: str, plot_name: str, title: str,
                  x: str = 'labels', xlabel: str = 'labels bought') -> dict:
  """Summarizes `workdir`, prints the table and writes results.md and the
  plot `plot_name` (process 0 of a job); returns the summary."""
  distributed.barrier('metrics written')
  summary = summarize(workdir, metric, x)
  if not distributed.is_main():
    return summary
  text = table(summary, metric, x)
  print(text)
  epath.Path(workdir, 'results.md').write_text(text + '\n')
  plot(summary, metric, os.path.join(workdir, plot_name), title, xlabel)
  return summary
