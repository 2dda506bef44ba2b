r"""Benchmark: the pool pass over ArrayRecord images, streaming vs in memory.

  python experiments/bench_records.py --out experiments/results/bench_records
  python experiments/bench_records.py --sizes 5000,10000 --out /tmp/r   # quick

Writes N = max(sizes) 64×64 JPEG images (`synthetic.stamped_images`) to one
ArrayRecord file, then, for each N in `sizes`, in a fresh
process each:

  streaming  `records.RecordArray` over the first N records, passed to
             `train.predict` as the pool: each batch is decoded when the
             pass reaches it (the arrayrecord: source's path in every loop).
  grain      the same with ``input.workers`` = 2: batches are decoded in 2
             grain worker processes ahead of the devices (`input/stream`).
  in memory  the old reader's way: decode all N images into one [N, 64, 64,
             3] uint8 array first, then `train.predict` over it.

All three run the same model (the MLP of configs/digits.py, freshly initialised:
the pass's cost does not depend on the weights) with predict_batch_size
512. Reported: images/s of the whole pass (decoding included), and the
process's peak resident memory (getrusage) minus that of a process that
only imported everything and built the model (the baseline row); for grain,
also the largest worker's peak (whole, baseline not subtracted).
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

import numpy as np

import bench_selection  # Shared helpers; experiments/ is on sys.path.

EDGE = 64


def child(spec):
  import jax  # pylint: disable=g-import-not-at-top
  from al_jax import models, optim, sharding, train  # pylint: disable=g-import-not-at-top
  from al_jax.input import records  # pylint: disable=g-import-not-at-top
  import ml_collections  # pylint: disable=g-import-not-at-top
  model = models.from_config(ml_collections.ConfigDict(
      {'name': 'mlp', 'hidden_sizes': (64,)}), 10)
  state = train.create_state(model, (EDGE, EDGE, 3), optim.make_optimizer(
      ml_collections.ConfigDict({'optimizer': 'adam',
                                 'learning_rate': 1e-3})),
                             jax.random.key(0))
  mesh = sharding.make_mesh()
  x = records.RecordArray(spec['path'], EDGE,
                         workers=spec.get('workers', 0)).lazy_rows(
                             np.arange(spec['n']))
  seconds = None
  if spec['method'] != 'baseline':
    t0 = time.perf_counter()
    if spec['method'] == 'in memory':
      x = x[:]  # Decode everything first, as the in-memory readers do.
    logits, _ = train.predict(state, x, mesh, 512)
    seconds = time.perf_counter() - t0
    assert logits.shape == (spec['n'], 10)
  peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
  workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
  print('RESULT ' + json.dumps({'seconds': seconds, 'peak': peak,
                                'workers': workers}))


def run_child(spec):
  env = dict(os.environ, PYTHONPATH=os.path.dirname(
      os.path.dirname(os.path.abspath(__file__))), JAX_PLATFORMS='cpu')
  proc = subprocess.run([sys.executable, __file__, '--child',
                         json.dumps(spec)], capture_output=True, text=True,
                        env=env, check=False)
  for line in proc.stdout.splitlines():
    if line.startswith('RESULT '):
      return json.loads(line[7:])
  raise RuntimeError(proc.stderr[-3000:])


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--sizes', default='50000,100000,200000')
  parser.add_argument('--data', default='/tmp/bench_records')
  parser.add_argument('--out', default=None)
  parser.add_argument('--child', default=None)
  args = parser.parse_args()
  if args.child:
    child(json.loads(args.child))
    return
  from al_jax.input import records, synthetic  # pylint: disable=g-import-not-at-top
  sizes = [int(s) for s in args.sizes.split(',')]
  path = os.path.join(args.data, 'train.array_record')
  t0 = time.perf_counter()
  records.write(args.data, 'train',
                synthetic.stamped_images(max(sizes), EDGE),
                np.zeros(max(sizes), np.int32),
                np.arange(max(sizes)).astype(str), 10, image_format='JPEG')
  write_s = time.perf_counter() - t0
  mb = os.path.getsize(path) / 2**20
  base = run_child({'path': path, 'n': 1, 'method': 'baseline'})['peak']
  lines = ['# python experiments/bench_records.py ' + ' '.join(sys.argv[1:]),
           f'cores {os.cpu_count()}; {max(sizes):,} JPEG images of '
           f'{EDGE}x{EDGE}x3 written in {write_s:.1f} s ({mb:.0f} MiB on '
           f'disk, {max(sizes) * EDGE * EDGE * 3 / 2**30:.2f} GiB decoded); '
           f'baseline process {base / 2**20:.0f} MiB',
           '', '| N | decoded GiB | method | images/s | peak RSS above '
           'baseline, MiB | largest worker, MiB |', '|---|---|---|---|---|---|']
  for n in sizes:
    for method, workers in (('streaming', 0), ('grain, 2 workers', 2),
                            ('in memory', 0)):
      r = run_child({'path': path, 'n': n, 'method': method,
                     'workers': workers})
      lines.append(f'| {n:,} | {n * EDGE * EDGE * 3 / 2**30:.2f} | {method} '
                   f'| {n / r["seconds"]:,.0f} | '
                   f'{(r["peak"] - base) / 2**20:,.0f} | '
                   + (f'{r["workers"] / 2**20:,.0f} |' if workers else '- |'))
      print(lines[-1], flush=True)
  bench_selection.publish(lines, args.out)


if __name__ == '__main__':
  main()
