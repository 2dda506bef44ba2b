r"""Benchmark: Lloyd k-means (kernels.kmeans.lloyd) against faiss and
scikit-learn, in one run.

  python experiments/bench_kmeans.py           # N = 100,000 and 1,000,000,
                                               # K = 1000 (~30 min on 2 busy
                                               # CPU cores)
  python experiments/bench_kmeans.py --quick   # N = 20,000 and 50,000,
                                               # K = 100, < 3 min

Every method starts from the same K initial centres (K distinct random rows)
with tol = 0 and does the same work: 20 Lloyd updates and one final
assignment, i.e. 21 assignment passes (each an [N, D] x [D, K] product and a
nearest centre) and 20 centre updates.
  ours     kmeans.lloyd(x, init, 20, tol=0): 20 updates (fewer only at an
           exact fixed point: centre shift 0) + the final assignment; its
           inertia is that of the final centres. Empty clusters keep their
           centre.
  ours_2dev  the same call with mesh=sharding.make_mesh() over 2 CPU
           devices, which needs XLA_FLAGS=--xla_force_host_platform_device_
           count=2 (set for that process only; the library default is one
           device, no flags). XLA runs one device's program at a time per
           op, and its matrix products of this shape use the second core
           poorly (~160 GFLOP/s on 2 threads vs ~125 on one); two devices
           run two independent streams. Same centres and labels as "ours",
           bit for bit (checked: the pool is always summed as 8 slices).
  faiss    faiss.Kmeans(D, K, niter=20, max_points_per_centroid=10**9: no
           subsampling).train(x, init_centroids=init): 20 x (assignment,
           update), then Kmeans.assign(x) for the final assignment (timed;
           faiss's own objective is that of the 20th assignment, before the
           last update). Empty clusters are re-seeded by splitting a large
           one. faiss's bundled OpenBLAS 0.3.15 does not know this CPU
           (Xeon, model 207) and falls back to its Prescott (SSE3) kernels,
           ~3x slower: the faiss rows run with OPENBLAS_CORETYPE=SkylakeX;
           "faiss" uses its default 2 OpenMP threads, "faiss_1thread"
           OMP_NUM_THREADS=1, which is faster while other jobs load the
           machine (OpenMP threads spin at every barrier; at K = 100 the
           2-thread run is ~10x slower); compare with the faster of the two.
           One extra row at the first N, "faiss_default_blas", is faiss out
           of the box (default BLAS detection and threads).
  sklearn  sklearn.cluster.KMeans(K, init=init, n_init=1, max_iter=20,
           tol=0, algorithm='lloyd'): 20 x (assignment, update) (fewer only
           if the labels stop changing), then a final assignment; empty
           clusters move to far points.
The relocation rules differ, so after a few updates the trajectories and
inertias differ slightly; the table gives the empty clusters of each.

Data: the Gaussian mixture of experiments/bench_selection.py (N / 10 blobs,
centres N(0, I), within-blob std 0.35), N x 128 float32, so clusters exist
but Lloyd with K = 1000 is still moving after 20 updates (no method stops
early; ~200 label changes per update at N = 100,000); initial centres: K
distinct rows, uniform.

Measurement: each (method, repeat) runs in a fresh process on the same data
(regenerated from the same seed), repeats interleaved across methods (the
machine is shared; interleaving spreads load changes over all methods);
"seconds" is the median over repeats of one end-to-end call (input
checks, padding and host <-> device copies included). Ours is warmed up
first on the same shapes (with a huge tol, so the program compiles but
stops after one update): its seconds EXCLUDE jit compilation, which is
given separately (sum of jax's compile events). Peak memory: the
process's peak resident set during the call ("peak GiB", inputs and
libraries included; the peak counter is reset through /proc/self/clear_refs
just before) and its growth over the resident set just before the call
("+GiB"). "ours/peer": our seconds (or peak GiB) over the peer's, < 1 means
ours is faster (smaller); on the ours_2dev row it is ours (1 device) over
ours_2dev.

Machine bounds (printed per N): 21 assignment passes of 2·N·D·K flop at
PEAK_GFLOPS (this machine's fp32 peak: 2 cores x 2 FMA units x 16 lanes x
2 flop x ~2.8 GHz ~ 360 GFLOP/s), and 21 passes streaming x once (N·D·4
bytes) at BANDWIDTH_GBS.

Assignment checks, against float64 numpy (the ||x||² + ||c||² − 2 x·c
expansion in float64, blocked; lowest index on ties):
  first step  the first assignment from the initial centres (ours: lloyd
              with 0 iterations; faiss: IndexFlatL2 search) vs the float64
              argmin to the initial centres;
  final       every method's final labels vs the float64 argmin to its OWN
              final centres.
A mismatch is a near-tie when the relative gap between the two smallest
float64 squared distances of its row is below 1e-6; "pick within 1e-6"
counts mismatches whose chosen centre is within a relative 1e-6 of the
float64 minimum. The float64 inertia (Σ of the float64 squared distances to
the chosen centres) puts the libraries' inertias on one scale.

The machine this was written on has 2 CPU cores and runs other jobs at the
same time: compare ratios within one run; the load average is printed.
"""

import argparse
import gc
import json
import os
import tempfile
import time

import numpy as np

import bench_selection  # pylint: disable=g-bad-import-order

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, 'experiments', 'results', 'bench_kmeans')
D = 128
PEAK_GFLOPS = 360.
BANDWIDTH_GBS = 30.
NEAR_TIE = 1e-6
FAISS_BLAS = {'OPENBLAS_CORETYPE': 'SkylakeX'}
TWO_DEVICES = {'XLA_FLAGS': '--xla_force_host_platform_device_count=2'}
ENV = dict(ours_2dev=TWO_DEVICES, faiss=FAISS_BLAS,
           faiss_1thread=dict(FAISS_BLAS, OMP_NUM_THREADS='1'))
METHODS = ('ours', 'ours_2dev', 'faiss', 'faiss_1thread', 'sklearn')

FULL = dict(sizes=(100_000, 1_000_000), k=1000, iterations=20, repeats=3)
QUICK = dict(sizes=(20_000, 50_000), k=100, iterations=20, repeats=2)


# ---------------------------------------------------------------- data


def make_data(n, k, seed=1):
  """(x [N, D] float32, bench_selection's mixture; init [K, D] float32, K
  distinct rows of x)."""
  x = bench_selection.make_mixture(n, D)
  return x, x[np.random.default_rng(seed).choice(n, k, replace=False)]


def reference64(x, centres, labels=None, chunk=8192):
  """Float64 nearest centres, blocked.

  Returns:
    (argmin [N] int64, lowest index on ties; smallest and second smallest
    squared distances [N] each; squared distance to `labels` [N] or None).
  """
  c = np.asarray(centres, np.float64)
  cn = np.einsum('ij,ij->i', c, c)
  n = len(x)
  best = np.empty(n, np.int64)
  d1, d2 = np.empty(n), np.empty(n)
  chosen = None if labels is None else np.empty(n)
  for s in range(0, n, chunk):
    e = min(s + chunk, n)
    xb = np.asarray(x[s:e], np.float64)
    d = np.einsum('ij,ij->i', xb, xb)[:, None] + cn[None] - 2 * (xb @ c.T)
    np.maximum(d, 0, out=d)
    best[s:e] = np.argmin(d, 1)
    two = np.partition(d, 1, axis=1)[:, :2] if d.shape[1] > 1 else d[:, [0, 0]]
    d1[s:e], d2[s:e] = two[:, 0], two[:, 1]
    if labels is not None:
      chosen[s:e] = d[np.arange(e - s), labels[s:e]]
  return best, d1, d2, chosen


def compare(labels, ref, d1, d2, x, centres):
  """Mismatches of `labels` against the float64 argmin `ref` (d1, d2: the
  two smallest float64 squared distances of each row), and how many of them
  are near-ties (top-2 gap) or picks within NEAR_TIE of the minimum."""
  bad = np.flatnonzero(labels != ref)
  diff = (np.asarray(x[bad], np.float64) -
          np.asarray(centres, np.float64)[labels[bad]])
  chosen = np.einsum('ij,ij->i', diff, diff)
  a, b = d1[bad], d2[bad]
  return dict(
      mismatches=int(bad.size),
      near_ties=int(np.sum(b - a <= NEAR_TIE * b)),
      picks_within=int(np.sum(chosen - a <= NEAR_TIE * chosen)),
      near_tie_rows=int(np.sum(d2 - d1 <= NEAR_TIE * d2)))


# ---------------------------------------------------------------- methods
# prepare(x, init, iterations) -> (warmup or None, run); run() returns
# (labels [N] int64, centres [K, D], inertia as the library reports it,
# Lloyd updates run).


def _prepare_ours(x, init, iterations, devices=1):
  import jax  # pylint: disable=g-import-not-at-top
  from al_jax import sharding  # pylint: disable=g-import-not-at-top
  from al_jax.kernels import kmeans  # pylint: disable=g-import-not-at-top
  if jax.device_count() != devices:
    raise RuntimeError(f'{jax.device_count()} devices, want {devices}')
  mesh = sharding.make_mesh() if devices > 1 else None
  events = []
  jax.monitoring.register_event_duration_secs_listener(
      lambda name, secs, **_: events.append((name, secs)))

  def warmup():
    # A huge tol stops Lloyd after one update, yet the program compiled is
    # the timed one (same shapes and static arguments; the threshold is a
    # run-time argument).
    t = time.perf_counter()
    kmeans.lloyd(x, init, iterations, tol=1e30, mesh=mesh)
    compile_s = sum(s for name, s in events
                    if name.startswith('/jax/core/compile/'))
    return dict(compile_s=compile_s, warmup_s=time.perf_counter() - t)

  def run():
    r = kmeans.lloyd(x, init, iterations, tol=0, mesh=mesh)
    return r.labels, r.centres, r.inertia, r.iterations
  return warmup, run


def _prepare_faiss(x, init, iterations):
  import faiss  # pylint: disable=g-import-not-at-top
  k = len(init)

  def warmup():  # Loads BLAS and starts the OpenMP threads.
    faiss.Kmeans(D, 10, niter=2, seed=1).train(x[:2000])

  def run():
    km = faiss.Kmeans(D, k, niter=iterations, seed=1, verbose=False,
                      max_points_per_centroid=10**9)
    km.train(x, init_centroids=init)
    dist, labels = km.assign(x)
    return (labels.astype(np.int64), km.centroids,
            float(np.sum(dist, dtype=np.float64)), len(km.obj))
  return warmup, run


def _prepare_sklearn(x, init, iterations):
  import warnings  # pylint: disable=g-import-not-at-top
  from sklearn.cluster import KMeans  # pylint: disable=g-import-not-at-top

  def fit(xs, centres, its):
    with warnings.catch_warnings():  # "fewer distinct clusters than K".
      warnings.simplefilter('ignore')
      return KMeans(len(centres), init=centres, n_init=1, max_iter=its,
                    tol=0, algorithm='lloyd', random_state=0).fit(xs)

  def warmup():
    fit(x[:2000], x[:10], 2)

  def run():
    km = fit(x, init, iterations)
    return (km.labels_.astype(np.int64), km.cluster_centers_,
            float(km.inertia_), int(km.n_iter_))
  return warmup, run


PREPARE = dict(ours=_prepare_ours,
               ours_2dev=lambda *a: _prepare_ours(*a, devices=2),
               faiss=_prepare_faiss,
               faiss_1thread=_prepare_faiss,
               faiss_default_blas=_prepare_faiss, sklearn=_prepare_sklearn)


# ---------------------------------------------------------------- worker


def _first_step(method, x, init):
  """Labels of the first assignment to the initial centres."""
  if method == 'ours':
    from al_jax.kernels import kmeans  # pylint: disable=g-import-not-at-top
    return kmeans.lloyd(x, init, 0, tol=0).labels
  import faiss  # pylint: disable=g-import-not-at-top
  index = faiss.IndexFlatL2(D)
  index.add(init)
  return index.search(x, 1)[1][:, 0].astype(np.int64)


def _timed_once(fn):
  t = time.perf_counter()
  fn()
  return time.perf_counter() - t


def worker(spec):
  m = spec['method']
  x, init = make_data(spec['n'], spec['k'])
  out = dict(spec)
  if m == 'reference':  # The float64 first assignment, shared by the rest.
    t = time.perf_counter()
    ref = reference64(x, init)[:3]
    out['seconds'] = time.perf_counter() - t
    rows = x[:65_536]  # The GEMM rate numpy (OpenBLAS) reaches right now.
    best = min(_timed_once(lambda: rows @ init.T) for _ in range(3))
    out['sgemm_gflops'] = 2. * rows.size * len(init) / best / 1e9
    np.savez(spec['ref'], *ref)
    print('RESULT ' + json.dumps(out), flush=True)
    return
  warmup, run = PREPARE[m](x, init, spec['iterations'])
  out.update(warmup() or {})
  # jax releases a host buffer it took without a copy (ours: the padded
  # pool) at the next garbage collection: collect so the warm-up's does not
  # count in the timed call's peak.
  gc.collect()
  resettable = bench_selection.reset_peak()
  rss0 = bench_selection.rss_bytes()
  t = time.perf_counter()
  labels, centres, inertia, steps = run()
  seconds = time.perf_counter() - t
  peak = bench_selection.peak_bytes(resettable)
  out.update(seconds=seconds, peak=peak, growth=max(peak - rss0, 0),
             inertia=inertia, iterations_run=steps,
             empty=int(spec['k'] - np.unique(labels).size))
  if spec['checks']:
    if m.startswith('ours'):
      np.savez(spec['ref'].replace('ref_', m + '_'), labels, centres)
    best, d1, d2, chosen = reference64(x, centres, labels)
    out['final'] = compare(labels, best, d1, d2, x, centres)
    out['inertia64'] = float(chosen.sum())
    if m in ('ours', 'faiss'):
      ref = np.load(spec['ref'])
      out['first'] = compare(_first_step(m, x, init), ref['arr_0'],
                             ref['arr_1'], ref['arr_2'], x, init)
  print('RESULT ' + json.dumps(out), flush=True)


def spawn(spec, timeout):
  return bench_selection.run_and_print(
      __file__, spec, timeout, ENV.get(spec['method']),
      f'{spec["method"]:18s} N={spec["n"]:>9,} rep {spec["rep"]}')


# ---------------------------------------------------------------- driver


def bounds(n, k, passes):
  flop = 2. * n * D * k * passes
  return flop, flop / (PEAK_GFLOPS * 1e9), n * D * 4. * passes / (
      BANDWIDTH_GBS * 1e9)


def summarize(runs):
  """One row per method from its repeats (checks come from repeat 0)."""
  ok = [r for r in runs if not r.get('failed')]
  if not ok:
    return dict(runs[0], seconds=None)
  row = dict(ok[0])
  for key in ('seconds', 'peak', 'growth', 'compile_s', 'warmup_s'):
    if key in row:
      row[key] = float(np.median([r[key] for r in ok]))
  row['all_seconds'] = [r['seconds'] for r in ok]
  return row


def fmt_check(c):
  if not c:
    return '-'
  return (f'{c["mismatches"]} ({c["near_ties"]} near-tie, '
          f'{c["picks_within"]} pick within 1e-6)')


def table(size_rows, spec_info):
  """Markdown lines for one N."""
  n, k, its, passes = (spec_info[key] for key in ('n', 'k', 'iterations',
                                                    'passes'))
  flop, t_flop, t_mem = bounds(n, k, passes)
  ours = size_rows.get('ours', {})
  lines = [
      f'### N = {n:,}, D = {D}, K = {k:,}, {its} iterations '
      f'({passes} assignment passes)', '',
      f'Bounds: {flop:.3g} flop -> **{t_flop:.2f} s** at {PEAK_GFLOPS:.0f} '
      f'GFLOP/s; x streamed {passes} times -> {t_mem:.3f} s at '
      f'{BANDWIDTH_GBS:.0f} GB/s.', '',
      '| method | seconds (median) | repeats | x flop bound | peak GiB | '
      '+GiB | ours/peer time | ours/peer peak | inertia (library) | '
      'inertia (float64) | updates | empty | final labels vs float64: '
      'mismatches | first step vs float64: mismatches |',
      '|' + '---|' * 14]
  for m, r in size_rows.items():
    if r.get('skipped'):
      lines.append(f'| {m} | {r["skipped"]} |' + ' |' * 12)
      continue
    if r.get('seconds') is None:
      lines.append(f'| {m} | FAILED: {r.get("failed")} |' + ' |' * 12)
      continue
    ratio_t = ratio_m = ''
    if m != 'ours' and ours.get('seconds'):  # ours_2dev too: ours/ours_2dev.
      ratio_t = f'{ours["seconds"] / r["seconds"]:.2f}'
      ratio_m = f'{ours["peak"] / r["peak"]:.2f}'
    secs = f'{r["seconds"]:.2f}'
    if 'compile_s' in r:
      secs += f' (+{r["compile_s"]:.1f} compile)'
    reps = ', '.join(f'{s:.1f}' for s in r['all_seconds'])
    inertia64 = f'{r["inertia64"]:.7g}' if 'inertia64' in r else '-'
    lines.append(
        f'| {m} | {secs} | {reps} | {r["seconds"] / t_flop:.1f} | '
        f'{r["peak"] / 2**30:.2f} | {r["growth"] / 2**30:.2f} | {ratio_t} | '
        f'{ratio_m} | {r["inertia"]:.7g} | {inertia64} | '
        f'{r["iterations_run"]} | {r["empty"]} | '
        f'{fmt_check(r.get("final"))} | {fmt_check(r.get("first"))} |')
  timed = {m: size_rows[m]['seconds'] for m in ('faiss', 'faiss_1thread')
           if size_rows.get(m, {}).get('seconds')}
  if timed and ours.get('seconds'):
    best = min(timed, key=timed.get)
    lines += ['', f'Strongest faiss here: {best}, {timed[best]:.2f} s; '
              f'**ours/faiss = {ours["seconds"] / timed[best]:.2f}** (time); '
              f'ours = {ours["seconds"] / t_flop:.1f}x the flop bound.']
    two = size_rows.get('ours_2dev', {}).get('seconds')
    if two:
      lines[-1] += (f' With 2 CPU devices (XLA_FLAGS): ours_2dev/faiss = '
                    f'{two / timed[best]:.2f}.')
  if 'same_as_ours' in size_rows.get('ours_2dev', {}):
    lines += ['', 'ours_2dev (2 CPU devices: XLA_FLAGS='
              f'{TWO_DEVICES["XLA_FLAGS"]} for that process) gives the same '
              'labels and centres as ours, bit for bit: '
              f'{"yes" if size_rows["ours_2dev"]["same_as_ours"] else "NO"}.']
  near = ours.get('final', {}).get('near_tie_rows')
  if near is not None:
    lines += ['', f'Rows that are near-ties (top-2 relative gap < 1e-6) for '
              f'our final centres: {near:,} of {n:,}.']
  return lines


def main():
  parser = argparse.ArgumentParser(
      description=__doc__.splitlines()[0],
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--quick', action='store_true',
                      help='small sizes, finishes in a few minutes')
  parser.add_argument('--sizes', help='override: comma-separated N')
  parser.add_argument('--k', type=int, help='override: K')
  parser.add_argument('--iterations', type=int, help='override: updates')
  parser.add_argument('--repeats', type=int, help='override: repeats')
  parser.add_argument('--sklearn_max_s', type=float, default=180.,
                      help='skip sklearn at a larger N when its time there, '
                      'extrapolated linearly in N from the previous N, '
                      'exceeds this')
  parser.add_argument('--no_default_blas_row', action='store_true',
                      help='skip the faiss row with default BLAS detection')
  parser.add_argument('--timeout', type=int, default=3600,
                      help='seconds per process')
  parser.add_argument('--worker', help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.worker:
    return worker(json.loads(args.worker))

  cfg = dict(QUICK if args.quick else FULL)
  if args.sizes:
    cfg['sizes'] = tuple(int(v) for v in args.sizes.split(','))
  for key in ('k', 'iterations', 'repeats'):
    if getattr(args, key) is not None:
      cfg[key] = getattr(args, key)
  passes = cfg['iterations'] + 1

  import faiss  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top
  import sklearn  # pylint: disable=g-import-not-at-top
  head = (f'{"quick" if args.quick else "full"} run: {os.cpu_count()} CPUs, '
          f'load average {os.getloadavg()[0]:.2f}; jax {jax.__version__} '
          f'({jax.devices()[0].platform}), faiss {faiss.__version__} (with '
          f'{FAISS_BLAS}), scikit-learn {sklearn.__version__}, numpy '
          f'{np.__version__}; XLA_FLAGS={os.environ.get("XLA_FLAGS", "")!r}')
  print(head)
  print(f'config: {cfg}', flush=True)
  start = time.perf_counter()
  md = ['# Lloyd k-means: al_jax vs faiss vs scikit-learn', '',
        f'`python experiments/bench_kmeans.py{" --quick" if args.quick else ""}'
        '`', '', head, '', 'See the docstring of experiments/bench_kmeans.py '
        'for what each method counts and how time and memory are measured. '
        '"seconds": median over repeats, one end-to-end call, jit compile '
        'excluded (given in parentheses); "ours/peer" < 1: ours faster / '
        'smaller; "x flop bound": seconds over the fp32 GEMM bound.', '']
  sklearn_est = None
  raw = {}
  with tempfile.TemporaryDirectory() as tmp:
    for i, n in enumerate(cfg['sizes']):
      t_size = time.perf_counter()
      print(f'[N = {n:,}]', flush=True)
      base = dict(n=n, k=cfg['k'], iterations=cfg['iterations'],
                  ref=os.path.join(tmp, f'ref_{n}.npz'))
      ref = spawn(dict(base, method='reference', rep=0, checks=False),
                  args.timeout)
      methods = list(METHODS)
      rows = {}
      if sklearn_est is not None and sklearn_est > args.sklearn_max_s:
        methods.remove('sklearn')
        rows['sklearn'] = dict(skipped=(
            f'not run: ~{sklearn_est:.0f} s expected (its median at the '
            f'previous N x N ratio) > --sklearn_max_s {args.sklearn_max_s:.0f}'
            ))
      runs = {m: [] for m in methods}
      for rep in range(cfg['repeats']):
        for m in methods:
          runs[m].append(spawn(dict(base, method=m, rep=rep,
                                    checks=rep == 0 and not ref.get('failed')),
                               args.timeout))
      for m in methods:
        rows[m] = summarize(runs[m])
      rows = {m: rows[m] for m in METHODS if m in rows}
      if i == 0 and not args.no_default_blas_row:
        rows['faiss_default_blas'] = summarize([spawn(
            dict(base, method='faiss_default_blas', rep=0, checks=False),
            args.timeout)])
      if rows.get('ours_2dev', {}).get('seconds') and rows['ours'].get(
          'seconds'):
        one, two = (np.load(base['ref'].replace('ref_', m + '_'))
                    for m in ('ours', 'ours_2dev'))
        rows['ours_2dev']['same_as_ours'] = bool(
            np.array_equal(one['arr_0'], two['arr_0']) and
            np.array_equal(one['arr_1'], two['arr_1']))
      if rows.get('sklearn', {}).get('seconds') and i + 1 < len(cfg['sizes']):
        sklearn_est = rows['sklearn']['seconds'] * cfg['sizes'][i + 1] / n
      lines = table(rows, dict(base, passes=passes))
      if ref.get('sgemm_gflops'):
        rate = ref['sgemm_gflops']
        lines += ['', f'Measured now: numpy sgemm [65536, {D}] x [{D}, '
                  f'{cfg["k"]}] at {rate:.0f} GFLOP/s (2 threads) -> '
                  f'{bounds(n, cfg["k"], passes)[0] / rate / 1e9:.2f} s for '
                  'the same flop.']
      lines += ['', f'float64 reference for the first step: '
                f'{ref.get("seconds", float("nan")):.1f} s; section wall '
                f'{time.perf_counter() - t_size:.0f} s, load average at its '
                f'end {os.getloadavg()[0]:.2f}.', '']
      print('\n'.join(lines), flush=True)
      md += lines
      raw[n] = {m: {key: v for key, v in r.items() if key != 'ref'}
                for m, r in rows.items()}
  tail = (f'total {time.perf_counter() - start:.0f} s wall; load average at '
          f'the end {os.getloadavg()[0]:.2f} (other jobs share this machine: '
          'compare ratios within one run).')
  print(tail)
  md.append(tail)
  os.makedirs(RESULTS, exist_ok=True)
  name = 'results_quick' if args.quick else 'results'
  with open(os.path.join(RESULTS, name + '.md'), 'w') as f:
    f.write('\n'.join(md) + '\n')
  with open(os.path.join(RESULTS, name + '.json'), 'w') as f:
    json.dump(dict(config=cfg, header=head, sizes=raw), f, indent=1)
  print(f'wrote {os.path.join(RESULTS, name)}.md and .json')


if __name__ == '__main__':
  main()
