r"""Benchmark: facility-location lazy greedy, al_jax vs apricot.

Both get the same [N, N] float32 similarity matrix (cosine, (1 + cos) / 2, of
x ~ N(0, 1) [N, D] float32, seed 0; apricot receives it as float64, converted
before its clock starts, with metric='precomputed', optimizer='lazy') and
must return the same picks in the same order. Times are wall seconds of one
selection; al_jax is timed cold (with compilation) and warm, apricot twice
(it re-JITs its numba gain kernel on every fit). Also timed, for reference:
al_jax from the features with Sim recomputed in [B, N] tiles at every
evaluation (matrix_bytes=0: no [N, N] matrix; by default N up to ~16k would
hold it).

  python experiments/bench_facility_location.py            # 20000 x 64, K=1000
  python experiments/bench_facility_location.py --quick    # 3000 x 64, K=200
"""

import argparse
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
# pylint: disable=g-import-not-at-top,wrong-import-position
from al_jax.kernels import facility_location as fl
from third_party import apricot_select


def _similarity(x):
  xn = x / np.linalg.norm(x, axis=1, keepdims=True)
  sim = xn @ xn.T
  sim *= 0.5
  sim += 0.5
  return np.maximum(sim, 0, out=sim)


def _clock(fn):
  start = time.perf_counter()
  out = fn()
  return out, time.perf_counter() - start


def main():
  parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
  parser.add_argument('--n', type=int, default=20_000)
  parser.add_argument('--d', type=int, default=64)
  parser.add_argument('--budget', type=int, default=1000)
  parser.add_argument('--quick', action='store_true', help='3000 x 64, K=200')
  args = parser.parse_args()
  if args.quick:
    args.n, args.budget = 3000, 200

  print(f'N={args.n} D={args.d} K={args.budget}; {os.cpu_count()} CPUs, '
        f'load average {os.getloadavg()[0]:.2f} (shared machine)')
  x = np.random.default_rng(0).standard_normal((args.n, args.d), np.float32)
  sim, secs = _clock(lambda: _similarity(x))
  sim64 = sim.astype(np.float64)
  print(f'similarity matrix [{args.n}, {args.n}]: {secs:.2f} s (untimed '
        'below)')

  ours, cold = _clock(
      lambda: fl.facility_location_precomputed(sim, args.budget))
  ours, warm = _clock(
      lambda: fl.facility_location_precomputed(sim, args.budget))
  peer_secs = []
  for _ in range(2):
    (ranking, _), secs = _clock(lambda: apricot_select.facility_location(
        sim64, args.budget))
    peer_secs.append(secs)
  tiles = lambda: fl.facility_location(x, args.budget, matrix_bytes=0)
  feats, feat_cold = _clock(tiles)
  feats, feat_warm = _clock(tiles)

  same = np.array_equal(ours.indices, ranking)
  first_diff = np.flatnonzero(ours.indices != ranking)
  print(f'al_jax precomputed: cold {cold:.2f} s, warm {warm:.2f} s')
  print(f'apricot lazy:       {peer_secs[0]:.2f} s, {peer_secs[1]:.2f} s')
  print(f'al_jax features:    cold {feat_cold:.2f} s, warm {feat_warm:.2f} s'
        ' (no N x N matrix)')
  print(f'identical picks al_jax vs apricot: {same}'
        + ('' if same else f' (first difference at pick {first_diff[0]})'))
  print('identical picks features vs precomputed: '
        f'{np.array_equal(feats.indices, ours.indices)}')
  best_peer = min(peer_secs)
  print(f'ratio apricot / al_jax (warm): {best_peer / warm:.2f}x; '
        f'(cold): {best_peer / cold:.2f}x')
  print(f'CRAIG weights sum to N: {int(ours.weights.sum()) == args.n}')


if __name__ == '__main__':
  main()
