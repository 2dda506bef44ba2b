r"""Benchmark: greedy k-center and k-means++ / BADGE seeding vs peers.

Each method runs in its own subprocess on the same synthetic pool
(x ~ N(0, 1), [N, D] float32, seed 0) so that peak memory is its own:
  kcenter_jax      al_jax.kernels.kcenter.kcenter_greedy
  kcenter_numpy    vectorized numpy farthest-first (same algorithm, same
                   expansion ||x||² + ||c||² - 2 x·c, one mat-vec per step)
  kmeanspp_jax     al_jax.kernels.kmeanspp.kmeanspp_seed on x
  kmeanspp_sklearn sklearn.cluster.kmeans_plusplus(n_local_trials=1): plain
                   D² sampling; sklearn's default greedy variant draws
                   2 + log(K) candidates per step and keeps the best
  badge_jax        kmeanspp_seed_outer(a, z): BADGE embeddings a ⊗ z,
                   factorized
  badge_sklearn    kmeans_plusplus(n_local_trials=1) on the materialized
                   [N, C·D] gradient embeddings

Peers that would take too long at the full K are timed at two smaller budgets
and extrapolated linearly in K (the table says so). Memory: tracemalloc peak
for numpy / scikit-learn, and for every method the growth of the process's
peak RSS (ru_maxrss) over its RSS once the pool is built.

  python experiments/bench_kcenter_kmeanspp.py            # 1e6 x 128, K=1000
  python experiments/bench_kcenter_kmeanspp.py --n 20000 --k 100
"""

import argparse
import importlib
import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
METHODS = ('kcenter_jax', 'kcenter_numpy', 'kmeanspp_jax', 'kmeanspp_sklearn',
           'badge_jax', 'badge_sklearn')
PEER = {'kcenter_jax': 'kcenter_numpy', 'kmeanspp_jax': 'kmeanspp_sklearn',
        'badge_jax': 'badge_sklearn'}


def _rss_bytes() -> int:
  with open('/proc/self/statm') as f:
    return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE')


def _peak_rss_bytes() -> int:
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _pool(args):
  rng = np.random.default_rng(0)
  x = rng.standard_normal((args.n, args.d), dtype=np.float32)
  labeled = np.zeros(args.n, bool)
  labeled[rng.choice(args.n, args.labeled, replace=False)] = True
  logits = 3 * rng.standard_normal((args.n, args.c), dtype=np.float32)
  return x, labeled, logits


def kcenter_numpy(x, labeled, k, chunk=65536):
  """Vectorized numpy farthest-first, the same algorithm as kcenter_greedy."""
  norms = np.einsum('ij,ij->i', x, x)
  centers = x[labeled]
  min_d = np.empty(len(x), np.float32)
  for s in range(0, len(x), chunk):
    d = (norms[s:s + chunk, None] + (centers * centers).sum(1)[None]
         - 2 * x[s:s + chunk] @ centers.T)
    min_d[s:s + chunk] = np.maximum(d, 0).min(1)
  min_d[labeled] = -np.inf  # Never picked again: -inf stays below any min.
  picks = np.empty(k, np.int64)
  for i in range(k):
    j = int(np.argmax(min_d))
    picks[i] = j
    np.minimum(min_d, np.maximum(norms + norms[j] - 2 * (x @ x[j]), 0),
               out=min_d)
    min_d[j] = -np.inf
  return picks


def _run_method(method, args, k):
  """Returns picks; imports happen before this so they are not timed."""
  x, labeled, logits = args.pool
  if method == 'kcenter_jax':
    from al_jax.kernels import kcenter
    return kcenter.kcenter_greedy(x, labeled, k)
  if method == 'kcenter_numpy':
    return kcenter_numpy(x, labeled, k)
  if method in ('kmeanspp_jax', 'badge_jax'):
    import jax
    from al_jax.kernels import kmeanspp
    key = jax.random.key(0)
    if method == 'kmeanspp_jax':
      return kmeanspp.kmeanspp_seed(x, k, key)
    a = np.asarray(kmeanspp.badge_factors(logits))
    return kmeanspp.kmeanspp_seed_outer(a, x, k, key, ~labeled)
  from sklearn.cluster import kmeans_plusplus
  if method == 'kmeanspp_sklearn':
    return kmeans_plusplus(x, k, random_state=0, n_local_trials=1)[1]
  # badge_sklearn: the materialized gradient embeddings, unlabeled rows only.
  p = np.exp(logits - logits.max(1, keepdims=True))
  p /= p.sum(1, keepdims=True)
  p[np.arange(len(p)), p.argmax(1)] -= 1
  unlabeled = np.flatnonzero(~labeled)
  g = (p[unlabeled, :, None] * x[unlabeled, None, :]).reshape(len(unlabeled),
                                                              -1)
  return unlabeled[kmeans_plusplus(g, k, random_state=0, n_local_trials=1)[1]]


def _bandwidth_gbs(x, passes=10):
  """Read bandwidth of jitted streaming passes over x (a scaled column sum)."""
  import jax
  import jax.numpy as jnp
  xd = jnp.asarray(x)

  @jax.jit
  def f(x):
    # The scale depends on the pass, so XLA cannot hoist the read.
    return jax.lax.fori_loop(
        0, passes, lambda i, s: s + jnp.sum(x * (1.0 + i), axis=0),
        jnp.zeros(x.shape[1], x.dtype))

  f(xd).block_until_ready()
  best = np.inf
  for _ in range(3):
    t = time.perf_counter()
    f(xd).block_until_ready()
    best = min(best, time.perf_counter() - t)
  return passes * x.nbytes / best / 1e9


def worker(args):
  method = args.worker
  # Imports first, so that they are neither timed nor in the RSS growth.
  if 'jax' in method:
    importlib.import_module('al_jax.kernels.kcenter')
    importlib.import_module('al_jax.kernels.kmeanspp')
  else:
    importlib.import_module('sklearn.cluster')
  args.pool = _pool(args)
  out = {'method': method, 'k': args.k, 'rss0': _rss_bytes()}
  tracing = 'jax' not in method
  if tracing:
    tracemalloc.start()
  if args.k_small:  # Two small budgets: slope and intercept in K.
    times = []
    for k in (args.k_small, 2 * args.k_small):
      t = time.perf_counter()
      picks = _run_method(method, args, k)
      times.append(time.perf_counter() - t)
    slope = (times[1] - times[0]) / args.k_small
    out.update(measured=times, k_small=args.k_small,
               seconds=max(times[1],
                       times[1] + slope * (args.k - 2 * args.k_small)),
               per_step=slope)
  else:
    if 'jax' in method:
      # Two short runs: the first compiles, the second does not; compiling the
      # full-K program costs about as much, so steady-state steps follow.
      k0 = min(10, args.k - 1)
      short = []
      for _ in range(2):
        t = time.perf_counter()
        _run_method(method, args, k0)
        short.append(time.perf_counter() - t)
      out['compile'] = short[0] - short[1]
    t = time.perf_counter()
    picks = _run_method(method, args, args.k)
    out['seconds'] = time.perf_counter() - t
    if 'jax' in method:
      out['per_step'] = (out['seconds'] - out['compile'] - short[1]) / (
          args.k - k0)
  if tracing:
    out['tracemalloc_peak'] = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
  out['peak_rss_growth'] = _peak_rss_bytes() - out['rss0']
  out['picks_head'] = [int(i) for i in np.asarray(picks)[:50]]
  out['distinct'] = bool(len(set(out['picks_head'])) == len(out['picks_head']))
  if method == 'kcenter_jax':
    out['bandwidth_gbs'] = _bandwidth_gbs(args.pool[0])
  print(json.dumps(out))


def _spawn(method, args, k_small):
  cmd = [sys.executable, os.path.abspath(__file__), '--worker', method,
         '--n', str(args.n), '--d', str(args.d), '--k', str(args.k),
         '--c', str(args.c), '--labeled', str(args.labeled),
         '--k_small', str(k_small)]
  env = dict(os.environ, PYTHONPATH=ROOT)
  res = subprocess.run(cmd, env=env, capture_output=True, text=True)
  if res.returncode:
    sys.exit(f'{method} failed:\n{res.stderr[-3000:]}')
  return json.loads(res.stdout.strip().splitlines()[-1])


def _mb(b):
  return f'{b / 2**20:9.0f}' if b is not None else '        -'


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument('--n', type=int, default=1_000_000)
  parser.add_argument('--d', type=int, default=128)
  parser.add_argument('--k', type=int, default=1000)
  parser.add_argument('--c', type=int, default=10, help='BADGE classes C')
  parser.add_argument('--labeled', type=int, default=100,
                      help='labeled points (initial k-center centers)')
  parser.add_argument('--peer_k', type=str, default='kcenter_numpy=100,'
                      'kmeanspp_sklearn=50,badge_sklearn=10',
                      help='method=k_small: time at k_small and 2*k_small, '
                      'extrapolate linearly to --k (0: run the full K)')
  parser.add_argument('--methods', type=str, default=','.join(METHODS))
  parser.add_argument('--worker', type=str, default='', help=argparse.SUPPRESS)
  parser.add_argument('--k_small', type=int, default=0,
                      help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.worker:
    return worker(args)

  peer_k = dict(kv.split('=') for kv in args.peer_k.split(',') if kv)
  print(f'pool N={args.n:,} D={args.d} float32, K={args.k}, BADGE C={args.c}'
        f', {args.labeled} labeled; {os.cpu_count()} CPUs')
  results = {}
  for method in args.methods.split(','):
    k_small = int(peer_k.get(method, 0))
    if 2 * k_small >= args.k:
      k_small = 0
    results[method] = r = _spawn(method, args, k_small)
    print(f'  done {method}: {r["seconds"]:.1f} s', flush=True)

  print()
  print(f'{"method":18s} {"seconds":>9s} {"per step":>9s} '
        f'{"tracemalloc":>11s} {"peak RSS":>9s}  notes')
  print(f'{"":18s} {"":>9s} {"ms":>9s} {"MiB":>11s} {"+MiB":>9s}')
  for method, r in results.items():
    note = ''
    if r.get('k_small'):
      note = (f'extrapolated from K={r["k_small"]},{2 * r["k_small"]} '
              f'({r["measured"][0]:.1f} s, {r["measured"][1]:.1f} s)')
    elif 'jax' in method:
      note = f'incl. {r["compile"]:.1f} s compile'
    step = r.get('per_step', 0)  # Compile noise swamps it on tiny pools.
    step = f'{1e3 * step:9.1f}' if step > 0 else '      n/a'
    print(f'{method:18s} {r["seconds"]:9.1f} {step}'
          f' {_mb(r.get("tracemalloc_peak")):>11s} '
          f'{_mb(r["peak_rss_growth"])}  {note}')
  print()
  for ours, peer in PEER.items():
    if ours in results and peer in results:
      a, b = results[ours], results[peer]
      print(f'{peer} / {ours}: time x{b["seconds"] / a["seconds"]:.1f}')
  if 'kcenter_jax' in results:
    r = results['kcenter_jax']
    ideal = args.n * args.d * 4 / (r['bandwidth_gbs'] * 1e9)
    print(f'kcenter_jax per step {1e3 * r["per_step"]:.1f} ms vs N·D·4 B / '
          f'read bandwidth ({r["bandwidth_gbs"]:.1f} GB/s, jitted column sums) '
          f'= {1e3 * ideal:.1f} ms')
  if 'kcenter_numpy' in results and 'kcenter_jax' in results:
    a = results['kcenter_jax']['picks_head']
    b = results['kcenter_numpy']['picks_head']
    m = min(len(a), len(b))
    agree = next((i for i, (u, v) in enumerate(zip(a, b)) if u != v), m)
    print(f'kcenter jax and numpy agree on the first {agree} of '
          f'{m} picks compared')


if __name__ == '__main__':
  main()
