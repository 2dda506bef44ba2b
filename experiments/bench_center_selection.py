r"""Benchmark: greedy k-center, k-means++ and BADGE seeding against numpy.

  python experiments/bench_center_selection.py --out experiments/results/bench_center_selection
  python experiments/bench_center_selection.py --quick   # small sizes, ~2 min

Kernels (ours: `al_jax.kernels.kcenter.kcenter_greedy`,
`kmeanspp.kmeanspp_seed`, `kmeanspp.kmeanspp_seed_outer`):

  kcenter   farthest-first from 100 labeled rows, K picks. Ours:
            `pruned_greedy` over the `ball_blocks` layout (skips, exactly,
            the blocks a step cannot change), and a dense pass also stores
            the distances to G - 1 likely next picks (lookahead).
            peer: `bench_selection.kcenter_numpy`, numpy farthest-first
            written for speed (chunked GEMMs to the labeled rows, then one
            float32 sgemv per step into a preallocated buffer, in-place
            updates, argmax).
            Same algorithm and tie rule, so the picks are compared.
  kmeanspp  D² sampling, K picks. Ours: rejection from snapshots, G
            proposals and their distance columns per pass (see
            `kmeanspp`).
            peer: `d2_numpy`, the same draws in numpy (proposals from the
            same uniforms, `kmeanspp.uniforms`, over our pool-order block
            layout, given untimed) with one sgemv per accepted pick, as
            many as the textbook loop (one draw and one sgemv per pick), so
            the picks are compared.
  badge     BADGE seeding on gradient embeddings a_i ⊗ z_i (C = 10 classes,
            a = softmax - onehot(argmax) of N(0, 9) logits): ours on the
            factors, the peer the same D² sampling on the materialized
            [N, C·D] float32 embeddings (materialization untimed).

Data (float32, seed 0): 'gauss' N(0, I) (unclustered); 'mixture': 1,000
isotropic Gaussian blobs, centres N(0, I), per-blob std 0.35·2^U(-1,1) (the
mixture of bench_knn_density.py); 'subspaces': 100 blobs, each spread on its
own random 8-dimensional subspace (std 0.35 per direction) plus isotropic
noise of std 0.05 — clusters of low intrinsic dimension, as learned
embeddings are.

Each (data, kernel, method) runs in a fresh process on regenerated data;
times are wall seconds of one call. With `--repeats R`, ours and numpy run
alternately R times each (this machine is shared and its bandwidth drifts
between minutes): seconds are each method's median run, the ratio is the
median of the R back-to-back ratios, with their range in brackets. Ours is
called twice: "cold" includes jit compilation, "warm" is the second call (a
later round of the same shape: block layout and selection redone, nothing
cached but the compiled programs); both ratios are printed. "peak GiB" is
the process's peak resident set during the call (/proc/self/clear_refs).

Bounds, from the machine's rates measured at the start (the faster of a
jitted jnp.sum and numpy's sgemv over 512 MiB; the faster of jnp.dot and
numpy's sgemm at 2048³): "dense" is K passes over the stored rows, the
textbook loop's floor; "ours" is our block reads at the bandwidth or our
pass products (2·N·F·G flops) at the GEMM rate, whichever is slower, plus
an [N] minimum (12·N bytes) per step served by a stored column. "passes /
stored steps (G)" counts our steps that read the pool and those served by a
stored column, with G columns per pass.
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

import bench_selection  # Peak-memory helpers; experiments/ is on sys.path.

SIZES = {'full': [(1_000_000, 128, 1000), (100_000, 1280, 1000)],
         'quick': [(50_000, 64, 100)]}
BADGE = {'full': (100_000, 10, 128, 1000), 'quick': (20_000, 10, 32, 100)}


def make_data(name, n, d, seed=0, chunk=1 << 16):
  rng = np.random.default_rng(seed)
  x = np.empty((n, d), np.float32)
  if name == 'gauss':
    for s in range(0, n, chunk):
      x[s:s + chunk] = rng.standard_normal((min(chunk, n - s), d), np.float32)
    return x
  comps = 1000 if name == 'mixture' else 100
  centre = rng.standard_normal((comps, d), np.float32)
  label = rng.integers(0, comps, n)
  if name == 'mixture':
    std = (0.35 * 2**rng.uniform(-1, 1, comps)).astype(np.float32)
  else:
    basis = np.linalg.qr(rng.standard_normal((comps, d, 8)))[0].astype(
        np.float32)  # [comps, d, 8] orthonormal columns.
  for s in range(0, n, chunk):
    lab = label[s:s + chunk]
    noise = rng.standard_normal((len(lab), d), np.float32)
    if name == 'mixture':
      x[s:s + chunk] = centre[lab] + noise * std[lab, None]
    else:
      z = rng.standard_normal((len(lab), 8), np.float32) * 0.35
      x[s:s + chunk] = (centre[lab] + np.einsum('nq,ndq->nd', z, basis[lab])
                        + 0.05 * noise)
  return x


def badge_factors(n, c, seed=1):
  """[N, C] BADGE factors of N(0, 9) logits."""
  logits = np.random.default_rng(seed).standard_normal((n, c)).astype(
      np.float32) * 3
  return bench_selection.badge_factors_numpy(logits).astype(np.float32)


# ------------------------------------------------------------------ peers


def d2_numpy(x, rows, u, real, k):
  """D² sampling by rejection from snapshots, as ours, one sgemv per pick.

  x: [B·rows, F] rows in our (pool-order) layout; real: [B·rows] bool,
  False on padding (never picked); u: [passes, G, 3] our uniforms
  (`kmeanspp.uniforms`). Each pass draws G proposals from the snapshot of m
  (a block by its float64 sum of m, then a row by float64 cumsum and
  searchsorted); a proposal is accepted when u * m_snapshot < m (or m is
  unchanged), and an accepted pick lowers m by one sgemv. Returns positions
  in the layout.
  """
  norms = np.einsum('ij,ij->i', x, x)
  min_d = np.where(real, np.inf, -1.0).astype(np.float32)
  buf = np.empty(len(x), np.float32)
  picks, proposals, passes = [], [], 0
  while len(picks) < k:
    if not proposals:
      w = np.maximum(min_d, 0) if picks else real.astype(np.float32)
      if w.sum(dtype=np.float64) <= 0:
        w = (min_d >= 0).astype(np.float32)
      cum = np.cumsum(w.reshape(-1, rows).sum(1, dtype=np.float64))
      for u_block, u_row, u_accept in u[passes]:
        b = int(np.searchsorted(cum, u_block * cum[-1], side='right'))
        inner = np.cumsum(w[b * rows:(b + 1) * rows], dtype=np.float64)
        j = b * rows + int(np.searchsorted(inner, u_row * inner[-1],
                                           side='right'))
        proposals.append((j, min_d[j], u_accept))
      proposals.reverse()
      passes += 1
    j, snapshot, u_accept = proposals.pop()
    now = min_d[j]
    if now >= 0 and (u_accept * snapshot < now or now == snapshot):
      picks.append(j)
      bench_selection.lower_min_distance(x, norms, j, min_d, buf)
      min_d[j] = -1
  return np.asarray(picks)


# ------------------------------------------------------------------ child


def child(spec):
  """Runs one (data, kernel, method); prints a JSON line."""
  import jax
  from al_jax import sharding
  from al_jax.kernels import ball_blocks, kcenter, kmeanspp, pruned_greedy
  data, kernel, method, n, d, k = (spec[f] for f in
                                   ('data', 'kernel', 'method', 'n', 'd', 'k'))
  key = jax.random.key(0)
  out = {}
  if kernel == 'badge':
    a, z = badge_factors(n, spec['c']), make_data(data, n, d)
    features, kind = (a, z), 'outer'
  else:
    x = make_data(data, n, d)
    features, kind = (x,), 'plain'
  labeled = np.zeros(n, bool)
  labeled[np.linspace(0, n - 1, 100).astype(int)] = True
  if method == 'numpy' and kernel != 'kcenter':
    # Our block layout (index [B, S], pool row per slot, n on padding),
    # given to the peer untimed; padding rows are zero.
    blocks, _ = ball_blocks.build(features, kind,
                                  sharding.one_device_mesh(), ordered=False)
    index = np.asarray(blocks.index).reshape(-1)
    rows = blocks.index.shape[1]
    del blocks
    pool = (np.einsum('nc,nd->ncd', a, z).reshape(n, -1)
            if kernel == 'badge' else x)
    pool = np.concatenate([pool, np.zeros((1, pool.shape[1]),
                                          np.float32)])[index]
    size = min(kmeanspp.PROPOSALS, k)
    u = np.asarray(jax.vmap(lambda p: kmeanspp.uniforms(key, p, size))(
        np.arange(k)))  # At most K passes.
  resettable = bench_selection.reset_peak()
  start = time.perf_counter()
  if method == 'ours':

    def call():
      if kernel == 'kcenter':
        return kcenter.kcenter_greedy(x, labeled, k, with_reads=True)
      if kernel == 'kmeanspp':
        return kmeanspp.kmeanspp_seed(x, k, key, with_reads=True)
      return kmeanspp.kmeanspp_seed_outer(a, z, k, key, with_reads=True)

    picks, reads = call()
    out['cold'] = time.perf_counter() - start
    start = time.perf_counter()
    picks, reads = call()  # Warm: compiled, layout and all recomputed.
    out['reads'] = int(reads.sum())
    out['rows'] = ball_blocks.block_rows(features)
    out['blocks'] = -(-n // out['rows'])
    out['passes'] = int((reads > 0.2 * out['blocks']).sum())
    out['stored'] = int((reads == 0).sum())
    out['columns'] = (pruned_greedy._LOOKAHEAD if kernel == 'kcenter' else
                      min(kmeanspp.PROPOSALS, k))
  elif kernel == 'kcenter':
    picks = bench_selection.kcenter_numpy(x, labeled, k)
  else:
    picks = index[d2_numpy(pool, rows, u, index < n, k)]
  out['seconds'] = time.perf_counter() - start
  out['peak_gib'] = bench_selection.peak_bytes(resettable) / 2**30
  out['picks'] = picks.tolist()
  if kernel == 'kcenter':  # Untimed: the k-center objective, float64.
    out['radius'] = bench_selection.covering_radius(
        x, x[np.r_[np.flatnonzero(labeled), picks]])
  print('RESULT ' + json.dumps(out), flush=True)


# ------------------------------------------------------------------ parent


def machine():
  """Best streaming read rate (bytes/s) over 512 MiB (jnp.sum, np sgemv),
  and the float32 GEMM rates (`bench_selection.gemm_rates`)."""
  import jax
  import jax.numpy as jnp
  x = np.random.default_rng(0).standard_normal((1 << 20, 128), np.float32)
  c, out = x[0].copy(), np.empty(1 << 20, np.float32)
  xs = jnp.asarray(x)
  total = jax.jit(jnp.sum)
  rates = {}
  for name, fn in (('jnp.sum', lambda: total(xs).block_until_ready()),
                   ('np sgemv', lambda: np.dot(x, c, out=out))):
    fn()
    rates[name] = x.nbytes / min(_time(fn) for _ in range(5))
  return rates, bench_selection.gemm_rates()


def _time(fn):
  t = time.perf_counter()
  fn()
  return time.perf_counter() - t


def run_child(spec):
  env = dict(os.environ, PYTHONPATH=os.pathsep.join(
      [os.path.dirname(os.path.dirname(os.path.abspath(__file__)))] +
      [os.environ.get('PYTHONPATH', '')]))
  proc = subprocess.run([sys.executable, __file__, '--child', json.dumps(spec)],
                        capture_output=True, text=True, env=env, check=False)
  for line in proc.stdout.splitlines():
    if line.startswith('RESULT '):
      return json.loads(line[7:])
  raise RuntimeError(f'{spec} failed:\n{proc.stderr[-3000:]}')


def _median_run(runs):
  """The run with the median seconds (the lower middle one of an even
  count)."""
  return sorted(runs, key=lambda r: r['seconds'])[(len(runs) - 1) // 2]


def _spread(ratios):
  return (f' [{min(ratios):.2f}–{max(ratios):.2f}]' if len(ratios) > 1
          else '')


def compare(ours, peer):
  a, b = np.asarray(ours['picks']), np.asarray(peer['picks'])
  same = ('identical' if np.array_equal(a, b) else
          f'first {int(np.argmax(a != b))} of {len(a)} equal')
  if 'radius' in ours:
    same += f'; radius {ours["radius"]:.6g} / {peer["radius"]:.6g}'
  return same


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--quick', action='store_true')
  parser.add_argument('--out', default=None)
  parser.add_argument('--data', default='gauss,mixture,subspaces')
  parser.add_argument('--kernels', default='kcenter,kmeanspp,badge')
  parser.add_argument('--repeats', type=int, default=1,
                      help='ours and numpy alternately, this many times each')
  parser.add_argument('--child', default=None)
  args = parser.parse_args()
  if args.child:
    child(json.loads(args.child))
    return
  size = 'quick' if args.quick else 'full'
  rates, flops = machine()
  bw, gemm = max(rates.values()), max(flops.values())
  lines = ['# python experiments/bench_center_selection.py ' +
           ' '.join(sys.argv[1:]),
           f'cores {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}; '
           'read bandwidth ' + ', '.join(f'{k} {v / 1e9:.1f} GB/s'
                                         for k, v in rates.items()) +
           '; float32 GEMM ' + ', '.join(f'{k} {v / 1e9:.0f} GFLOP/s'
                                         for k, v in flops.items()),
           '', '| data | kernel | N x F | K | ours s warm (cold) | numpy s |'
           ' numpy/ours warm (cold) | bound s (dense) | bound s (ours) |'
           ' passes / stored steps (G) | blocks read | same picks |'
           ' peak GiB ours / numpy |',
           '|' + '---|' * 13]
  kernels = args.kernels.split(',')
  jobs = [(data, kernel, n, d, k, None) for n, d, k in SIZES[size]
          for data in args.data.split(',') for kernel in kernels
          if kernel != 'badge']
  n, c, d, k = BADGE[size]
  jobs += [(data, 'badge', n, d, k, c) for data in args.data.split(',')
           if 'badge' in kernels]
  for data, kernel, n, d, k, c in jobs:
    spec = dict(data=data, kernel=kernel, n=n, d=d, k=k, c=c)
    runs = [(run_child(dict(spec, method='ours')),
             run_child(dict(spec, method='numpy')))
            for _ in range(args.repeats)]
    ours, peer = (_median_run([r[i] for r in runs]) for i in (0, 1))
    ratios = [p['seconds'] / o['seconds'] for o, p in runs]
    stored = 4 * (d + (c or 0))  # Bytes per row ours reads.
    bound = k * n * stored / bw
    # Ours: its block reads at the bandwidth or its pass products at the
    # GEMM rate, whichever is slower, plus an [N] minimum (read m and the
    # stored column, write m) per step served by a stored column.
    read = (max(ours['reads'] * ours['rows'] * stored / bw,
                ours['passes'] * 2 * n * stored / 4 * ours['columns'] / gemm)
            + ours['stored'] * 3 * 4 * n / bw)
    width = f'{n:,} x {d * (c or 1)}'
    lines.append(
        f'| {data} | {kernel} | {width} | {k} | {ours["seconds"]:.2f} '
        f'({ours["cold"]:.2f}) | {peer["seconds"]:.2f} | '
        f'**{np.median(ratios):.2f}**{_spread(ratios)} '
        f'({peer["seconds"] / ours["cold"]:.2f}) |'
        f' {bound:.2f} | {read:.2f} | '
        f'{ours["passes"]} / {ours["stored"]} ({ours["columns"]}) | '
        f'{ours["reads"] / (k * ours["blocks"]):.1%} | '
        f'{compare(ours, peer)} | '
        f'{ours["peak_gib"]:.2f} / {peer["peak_gib"]:.2f} |')
    print(lines[-1], flush=True)
  lines.append('')
  lines.append(f'load average at the end {os.getloadavg()[0]:.2f}')
  bench_selection.publish(lines, args.out)


if __name__ == '__main__':
  main()
