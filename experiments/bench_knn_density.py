r"""Benchmark: USL's k-NN density (paper 003) -- al_jax against faiss exact k-NN.

  python experiments/bench_knn_density.py           # N = 100,000, D = 128,
                                                    # k = 20 and 32, raw and
                                                    # L2-normalised (~30 min
                                                    # on 2 busy CPU cores)
  python experiments/bench_knn_density.py --quick   # N = 20,000, k = 20,
                                                    # raw only (< 2 min)

The quantity (USL, as the authors' code computes it): D̄_i = the mean of the
k smallest squared distances from x_i to all N rows, x_i itself included
(its 0 is one of the k), density_i = 1 / max(D̄_i, 1e-12).
  ours   al_jax.kernels.knn.knn_density(x, k) -> (density [N], D̄ [N]): the
         k - 1 nearest OTHER rows (exact, tiled; the self distance is exactly
         0 by construction), end to end (host -> device copies and the
         per-block loop included).
  faiss  faiss.IndexFlatL2(D); add(x); search(x, k): exact k-NN with the
         point itself among the k (faiss does not skip it; its self distance
         comes from the ||x||² + ||y||² - 2 x·y expansion, so it is ~0, not
         exactly 0), then D̄ = mean of the k returned squared distances and
         the same floor. Index construction, search and the mean are timed.
         faiss's bundled OpenBLAS does not know this CPU and falls back to
         SSE3 kernels (~3x slower), so faiss runs with OPENBLAS_CORETYPE=
         SkylakeX (as in experiments/bench_kmeans.py).
Threads: both get this machine's 2 cores: faiss.omp_set_num_threads(2), and
XLA's CPU runtime uses one thread per core (its default).

Data: a Gaussian mixture as real embeddings are clustered: --components
(1,000) centres ~ N(0, I_D), each with its own isotropic std SIGMA x 2^U(-1,1)
(0.175 to 0.7, so densities differ by ~16x between clusters), points assigned
to components uniformly; float32, seed 0 (each process regenerates the same
x). "l2" rows: the same points L2-normalised (USL's features are).

Measurement: every (method, repeat) runs in a fresh process, repeats
interleaved across methods (the machine is shared: interleaving spreads
load changes over both); "seconds" is the BEST over --repeats (3; >= 2) of
one end-to-end call (all repeats are listed, each with the 1-minute load
average right after it: faiss's 2 OpenMP threads spin at barriers and were
seen to slow down ~3x when other jobs take a core, so the best is the fairer
figure). Each process warms up first: ours
calls knn.nearest_points(x[:512], x, k - 1), which compiles the very program
knn_density runs (one 512-query block against the same reference tiles,
same k - 1), so the timed call excludes jit compilation: the compile time
of the warm-up is given separately, and any compilation inside the timed
call (jax's compile events; 0 expected) is reported. faiss's warm-up
searches a small index (loads BLAS, starts the OpenMP threads). Peak memory:
the process's peak resident set during the timed call (inputs and libraries
included; reset through /proc/self/clear_refs just before).

Machine bound: the exact k-NN graph needs 2·N²·D flop (the [N, D] x [D, N]
distance product; the top-k selection is extra), at the faster of numpy's
(OpenBLAS, faiss's BLAS too) and XLA's sgemm rate, both measured at the
start of the run (`sgemm_gflops`: products reduced while in cache). Each
method's achieved GFLOP/s is its flop over its seconds.

--queries Q (for N = 1,000,000, where one exact graph takes faiss ~20 min):
both methods find the k nearest of all N rows for the first Q rows only
(the rows are in random mixture order), the point itself among its k for
both (ours: knn.nearest_points(x[:Q], x, k)); the seconds shown are the
measured ones x N / Q (a query's cost does not depend on which queries run
beside it), the checks run on those Q rows.

--probes P1,P2,...: also the approximate path, knn_probe.knn_probe(x, k - 1,
probe) for the whole graph (all N rows: its lists and votes depend on
every row), one run each after the exact ones, with its recall against
ours exact on the checked rows. Its warm-up compiles the search on a
subset; the timed run still compiles the vote for the full list count.

Checks (ours vs faiss, on repeat 0):
  neighbour sets  per row, ours = {i} ∪ the k - 1 rows knn.knn(x, k - 1)
           returns (the same kernel call knn_density makes, run once more
           untimed: knn_density returns no indices; its D̄ is checked to be
           the mean of those squared distances), faiss = its k indices.
           "rows differing": rows whose SETS differ. For each, the swapped
           rows (in one set only) get float64 squared distances to x_i;
           the difference is a float32 tie when they span less than
           TIE_REL x (||x_i||² + ||x_j||²) (~8 float32 ulps of the terms of
           the expansion both libraries compute: float32 cannot order them),
           and float64 says which set is right.
  D̄        max relative difference |D̄_ours - D̄_faiss| / D̄_faiss over all
           rows.
  float64  on --sample (2,000) random rows, the exact float64 D̄ (direct
           (x_i - x_j)² sums over all N rows); max relative error of each
           library's D̄ against it.

The machine this was written on has 2 CPU cores and runs other jobs at the
same time: compare ratios within one run; the load average is printed.
"""

import argparse
import gc
import json
import os
import sys
import tempfile
import time

import numpy as np

import bench_kmeans  # pylint: disable=g-bad-import-order
import bench_selection  # pylint: disable=g-bad-import-order

ROOT = bench_selection.ROOT
OUT = os.path.join(ROOT, 'experiments', 'results', 'bench_knn_density.md')
SIGMA = bench_selection.SIGMA
GEMM_GFLOPS = {}  # Measured at the start: numpy's and XLA's sgemm.
FAISS_BLAS = bench_kmeans.FAISS_BLAS
THREADS = 2
FLOOR = 1e-12
TIE_REL = 1e-6
LOADED = 3.5  # 1-minute load average: another job holds a core.
METHODS = ('ours', 'faiss')
ENV = dict(faiss=FAISS_BLAS)

FULL = dict(n=100_000, d=128, ks=(20, 32), data=('raw', 'l2'), repeats=3)
QUICK = dict(n=20_000, d=128, ks=(20,), data=('raw',), repeats=2)


# ---------------------------------------------------------------- data


def make_data(n, d, components, kind, seed=0, chunk=65_536):
  """[N, D] float32 Gaussian mixture (per-component std), optionally rows
  L2-normalised."""
  rng = np.random.default_rng(seed)
  centres = rng.normal(size=(components, d))
  scale = SIGMA * 2.0 ** rng.uniform(-1, 1, components)
  comp = rng.integers(0, components, n)
  x = np.empty((n, d), np.float32)
  for s in range(0, n, chunk):
    e = min(s + chunk, n)
    c = comp[s:e]
    x[s:e] = centres[c] + scale[c, None] * rng.standard_normal((e - s, d))
  if kind == 'l2':
    x /= np.linalg.norm(x, axis=1, keepdims=True)
  return x


# ---------------------------------------------------------------- methods
# prepare(x, k) -> (warmup, run, check); run() -> D̄ [N] float64;
# check() -> neighbour rows [N, k], the point itself included.


def _prepare_ours(x, k, queries):
  import jax  # pylint: disable=g-import-not-at-top
  from al_jax.kernels import knn  # pylint: disable=g-import-not-at-top
  events, found = [], {}
  jax.monitoring.register_event_duration_secs_listener(
      lambda name, secs, **_: events.append((name, secs)))

  def compile_s():
    return sum(s for name, s in events
               if name.startswith('/jax/core/compile/'))

  def warmup():  # One full query block: the program the timed call runs.
    t = time.perf_counter()
    knn.nearest_points(x[:512], x, k if queries else k - 1)
    return dict(compile_s=compile_s(), warmup_s=time.perf_counter() - t,
                devices=jax.device_count())

  def run():
    before = compile_s()
    if queries:  # The point itself is among its k, as for faiss.
      dist, found['idx'] = knn.nearest_points(x[:queries], x, k)
      mean_sq = np.sum(np.float64(dist) ** 2, 1) / k
    else:
      _, mean_sq = knn.knn_density(x, k, floor=FLOOR)
    return mean_sq, dict(compile_in_timed_s=compile_s() - before)

  def check(mean_sq):
    if queries:
      return found['idx'].astype(np.int64), None
    dist, idx = knn.knn(x, k - 1)
    d2 = np.asarray(dist, np.float64) ** 2
    again = d2.sum(1) / k
    own = np.concatenate([np.arange(len(x))[:, None], idx], 1)
    return own, float(np.max(np.abs(again - mean_sq) /
                             np.maximum(mean_sq, FLOOR)))
  return warmup, run, check


def _prepare_faiss(x, k, queries):
  import faiss  # pylint: disable=g-import-not-at-top
  faiss.omp_set_num_threads(THREADS)
  d = x.shape[1]
  found = {}

  def warmup():
    index = faiss.IndexFlatL2(d)
    index.add(x[:4096])
    index.search(x[:4096], k)
    return dict(omp_threads=faiss.omp_get_max_threads())

  def run():
    index = faiss.IndexFlatL2(d)
    index.add(x)
    dist, idx = index.search(x[:queries or len(x)], k)
    found['idx'], found['dist'] = idx, dist
    mean_sq = np.sum(dist, 1, dtype=np.float64) / k
    return mean_sq, {}

  def check(mean_sq):
    del mean_sq
    is_self = found['idx'] == np.arange(len(found['idx']))[:, None]
    self_d = np.where(is_self, found['dist'], -np.inf).max(1)
    return found['idx'].astype(np.int64), float(np.max(self_d))
  return warmup, run, check


def _prepare_probe(x, k, queries, probe):
  """The approximate graph: knn_probe.knn_probe(x, k - 1, probe) over all N
  rows (its lists depend on every row); idx of the first Q rows is saved,
  the point itself prepended (so it compares with the exact sets)."""
  from al_jax.kernels import knn_probe  # pylint: disable=g-import-not-at-top
  found = {}

  def warmup():
    knn_probe.knn_probe(x[:min(len(x), 4 * probe * knn_probe.LIST_ROWS)],
                        k - 1, probe)

  def run():
    dist, found['idx'] = knn_probe.knn_probe(x, k - 1, probe)
    return np.sum(np.float64(dist) ** 2, 1) / k, {}

  def check(mean_sq):
    del mean_sq
    q = queries or len(x)
    own = np.arange(q)[:, None]
    return np.concatenate([own, found['idx'][:q]], 1).astype(np.int64), None
  return warmup, run, check


PREPARE = dict(ours=_prepare_ours, faiss=_prepare_faiss, probe=_prepare_probe)


# ---------------------------------------------------------------- worker


def worker(spec):
  m = spec['method']
  x = make_data(spec['n'], spec['d'], spec['components'], spec['data'])
  out = dict(spec)
  extra_args = (spec['probe'],) if m == 'probe' else ()
  warmup, run, check = PREPARE[m](x, spec['k'], spec['queries'], *extra_args)
  out.update(warmup() or {})
  gc.collect()
  resettable = bench_selection.reset_peak()
  rss0 = bench_selection.rss_bytes()
  t = time.perf_counter()
  mean_sq, extra = run()
  seconds = time.perf_counter() - t
  out['load'] = os.getloadavg()[0]
  peak = bench_selection.peak_bytes(resettable)
  out.update(extra, seconds=seconds, peak=peak, growth=max(peak - rss0, 0))
  if spec['checks']:
    idx, aux = check(mean_sq)
    # ours: D̄ recomputed from knn.knn vs knn_density (max rel diff);
    # faiss: largest self distance it returned.
    out['aux'] = aux
    np.savez(spec['save'], mean_sq=mean_sq, idx=idx)
  print('RESULT ' + json.dumps(out), flush=True)


def spawn(spec, timeout):
  return bench_selection.run_and_print(
      __file__, spec, timeout, ENV.get(spec['method']),
      f'{spec["method"]:6s} {spec["data"]:3s} N={spec["n"]:,} k={spec["k"]} '
      f'rep {spec["rep"]}')


# ---------------------------------------------------------------- checks


def _sq64(x, i, rows):
  diff = np.asarray(x[rows], np.float64) - np.asarray(x[i], np.float64)
  return np.einsum('ij,ij->i', diff, diff)


def compare_sets(x, ours, theirs):
  """Rows whose neighbour sets differ, and what each difference is."""
  a, b = np.sort(ours, 1), np.sort(theirs, 1)
  rows = np.flatnonzero((a != b).any(1))
  out = dict(differing=int(rows.size), ties=0, ours_right=0, faiss_right=0,
             worst_gap_rel=0.0)
  norms = np.einsum('ij,ij->i', np.asarray(x, np.float64),
                    np.asarray(x, np.float64))
  for i in rows:
    only_o = np.setdiff1d(ours[i], theirs[i])
    only_f = np.setdiff1d(theirs[i], ours[i])
    d_o, d_f = _sq64(x, i, only_o), _sq64(x, i, only_f)
    both = np.concatenate([d_o, d_f])
    cand = np.concatenate([only_o, only_f])
    gap = (both.max() - both.min()) / (norms[i] + norms[cand].max())
    out['worst_gap_rel'] = max(out['worst_gap_rel'], float(gap))
    out['ties'] += int(gap <= TIE_REL)
    out['ours_right'] += int(d_o.max() <= d_f.min())
    out['faiss_right'] += int(d_f.max() <= d_o.min())
  return out


def float64_mean_sq(x, rows, k, block=256):
  """Exact D̄ (float64, direct differences) of the given rows."""
  x64 = np.asarray(x, np.float64)
  norms = np.einsum('ij,ij->i', x64, x64)
  out = np.empty(len(rows))
  for s in range(0, len(rows), block):
    r = rows[s:s + block]
    # Expansion for the ranking, then the k + 8 nearest re-measured directly.
    d = norms[r, None] + norms[None] - 2 * (x64[r] @ x64.T)
    cand = np.argpartition(d, k + 8, axis=1)[:, :k + 8]
    for j, i in enumerate(r):
      exact = np.sort(_sq64(x, i, cand[j]))[:k]
      out[s + j] = exact.sum() / k
  return out


def sgemm_gflops(d):
  """{numpy, xla}: best-of-3 GFLOP/s of float32 [512, D] x [D, 8192] products
  whose [512, 8192] results are each reduced at once (as a k-NN scan does:
  a materialised [N, N] product is bound by its writes, not by the flops),
  over 64 reference tiles."""
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  q = rng.standard_normal((512, d), np.float32)
  refs = rng.standard_normal((64, 8192, d), np.float32)

  def numpy_scan():
    for r in refs:
      (q @ r.T).min(1)

  scan = jax.jit(lambda q, refs: jax.lax.map(lambda r: (q @ r.T).min(1),
                                             refs))
  q_dev, refs_dev = jax.device_put(q), jax.device_put(refs)
  scan(q_dev, refs_dev).block_until_ready()
  runs = dict(numpy=numpy_scan,
              xla=lambda: scan(q_dev, refs_dev).block_until_ready())
  flop = 2. * q.shape[0] * refs.shape[0] * refs.shape[1] * d
  timed = bench_kmeans._timed_once  # pylint: disable=protected-access
  return {name: flop / min(timed(f) for _ in range(3)) / 1e9
          for name, f in runs.items()}


def bound_gflops():
  return max(GEMM_GFLOPS.values())


# ---------------------------------------------------------------- driver


def summarize(runs):
  ok = [r for r in runs if not r.get('failed')]
  if not ok:
    return dict(runs[0], seconds=None)
  row = dict(ok[0])
  row['seconds'] = min(r['seconds'] for r in ok)
  row['all_seconds'] = [r['seconds'] for r in ok]
  row['all_loads'] = [r['load'] for r in ok]
  row['peak'] = max(r['peak'] for r in ok)
  return row


def run_config(cfg, kind, k, tmp, timeout, sample):
  n, d = cfg['n'], cfg['d']
  base = dict(n=n, d=d, k=k, data=kind, components=cfg['components'],
              queries=cfg['queries'])
  runs = {m: [] for m in METHODS}
  for rep in range(cfg['repeats']):
    for m in METHODS:
      runs[m].append(spawn(dict(
          base, method=m, rep=rep, checks=rep == 0,
          save=os.path.join(tmp, f'{m}_{kind}_{k}.npz')), timeout))
  rows = {m: summarize(runs[m]) for m in METHODS}
  res = dict(base, rows=rows)
  if all(rows[m].get('seconds') for m in METHODS):
    x = make_data(n, d, cfg['components'], kind)
    o, f = (np.load(os.path.join(tmp, f'{m}_{kind}_{k}.npz'))
            for m in METHODS)
    res['sets'] = compare_sets(x, o['idx'], f['idx'])
    res['rel_diff'] = float(np.max(np.abs(o['mean_sq'] - f['mean_sq']) /
                                   np.maximum(f['mean_sq'], FLOOR)))
    q = cfg['queries'] or n
    pick = np.sort(np.random.default_rng(1).choice(q, min(sample, q),
                                                   replace=False))
    ref = float64_mean_sq(x, pick, k)
    res['f64'] = {m: float(np.max(np.abs(z['mean_sq'][pick] - ref) / ref))
                  for m, z in zip(METHODS, (o, f))}
    res['self_consistent'] = rows['ours'].get('aux')
    res['faiss_self_max'] = rows['faiss'].get('aux')
    res['d_mean'] = float(np.median(f['mean_sq']))
    res['probes'] = []
    for p in cfg['probes']:
      run = spawn(dict(base, method='probe', probe=p, rep=0, checks=True,
                       save=os.path.join(tmp, f'probe{p}_{kind}_{k}.npz')),
                  timeout)
      if run.get('failed'):
        res['probes'].append(dict(probe=p, failed=run['failed']))
        continue
      got = np.load(os.path.join(tmp, f'probe{p}_{kind}_{k}.npz'))['idx']
      exact = o['idx']
      hits = sum(np.intersect1d(a[1:], b).size for a, b in zip(got, exact))
      res['probes'].append(dict(probe=p, seconds=run['seconds'],
                                peak=run['peak'],
                                recall=hits / (exact.shape[0] * (k - 1))))
  return res


def fmt_probes(results):
  """Markdown lines: the approximate path against ours exact."""
  rows = [(r, p) for r in results for p in r.get('probes', [])]
  if not rows:
    return []
  lines = ['', 'Approximate path, `knn_probe.knn_probe(x, k - 1, probe)` '
           '(lists of 4,096 rows; the whole graph of N rows, one run), '
           'against ours exact above: recall = the share of the exact k - 1 '
           'other neighbours it returns, on the rows the checks cover.', '',
           '| data | N x D | k | probe | seconds | exact / approximate | '
           'recall | peak GiB |', '|' + '---|' * 8]
  for r, p in rows:
    head = f'| {r["data"]} | {r["n"]:,} x {r["d"]} | {r["k"]} | {p["probe"]} |'
    if p.get('failed'):
      lines.append(head + f' FAILED: {p["failed"]} |' + ' |' * 3)
      continue
    exact = r['rows']['ours']['seconds'] * r['n'] / (r['queries'] or r['n'])
    lines.append(head + f' {p["seconds"]:.1f} | {exact / p["seconds"]:.1f} '
                 f'| {p["recall"]:.4f} | {p["peak"] / 2**30:.2f} |')
  return lines


def fmt_row(res):
  n, d, k = res['n'], res['d'], res['k']
  q = res['queries'] or n
  flop = 2. * q * n * d  # Measured; seconds are shown scaled to N queries.
  bound = 2. * n * n * d / (bound_gflops() * 1e9)
  scale = n / q
  o, f = res['rows']['ours'], res['rows']['faiss']
  if not (o.get('seconds') and f.get('seconds')):
    return (f'| {res["data"]} | {n:,} x {d} | {k} | FAILED: '
            f'{o.get("failed") or f.get("failed")} |' + ' |' * 8)
  s = res['sets']
  same = 'y' if s['differing'] == 0 else (
      f'n: {s["differing"]} rows ({s["ties"]} float32 ties; float64 sides '
      f'with ours {s["ours_right"]}, faiss {s["faiss_right"]}, both on '
      'exact float64 ties)')
  def reps(r):
    return ', '.join(f'{v * scale:.1f} @{w:.1f}'
                     for v, w in zip(r['all_seconds'], r['all_loads']))
  ours_s = (f'{o["seconds"] * scale:.1f} ({reps(o)}; '
            f'+{o["compile_s"]:.1f} compile)')
  if o.get('compile_in_timed_s'):
    ours_s += f' [{o["compile_in_timed_s"]:.1f} s compile inside]'
  faiss_s = f'{f["seconds"] * scale:.1f} ({reps(f)})'
  rows = f'{n:,}' if q == n else f'{q:,} of {n:,}'
  return (f'| {res["data"]} | {rows} x {d} | {k} | {ours_s} | {faiss_s} | '
          f'**{o["seconds"] / f["seconds"]:.2f}** | {bound:.1f} | '
          f'{flop / o["seconds"] / 1e9:.0f} / {flop / f["seconds"] / 1e9:.0f}'
          f' | {same} | {res["rel_diff"]:.1e} | {res["f64"]["ours"]:.1e} / '
          f'{res["f64"]["faiss"]:.1e} | {o["peak"] / 2**30:.2f} / '
          f'{f["peak"] / 2**30:.2f} |')


def interpretation(results):
  ok = [r for r in results if 'sets' in r]
  if not ok:
    return 'No configuration completed.'
  ratios = {f'{r["data"]} k={r["k"]}': r['rows']['ours']['seconds'] /
            r['rows']['faiss']['seconds'] for r in ok}
  lo, hi = min(ratios.values()), max(ratios.values())
  if hi < 0.95:
    verdict = 'ours is faster everywhere'
  elif lo > 1.05:
    verdict = 'faiss is faster everywhere'
  else:
    verdict = 'neither is faster everywhere'

  def span(m):
    v = [r['rows'][m]['seconds'] / (2. * (r['queries'] or r['n']) * r['n']
                                    * r['d'] / (bound_gflops() * 1e9))
         for r in ok]
    return (f'{min(v):.1f}' if max(v) - min(v) < 0.05 else
            f'{min(v):.1f}-{max(v):.1f}')
  swing = {m: max(max(r['rows'][m]['all_seconds']) /
                  min(r['rows'][m]['all_seconds']) for r in ok)
           for m in METHODS}
  diff = sum(r['sets']['differing'] for r in ok)
  ties = sum(r['sets']['ties'] for r in ok)
  agree = ('the neighbour sets are identical on every row' if diff == 0 else
           f'the neighbour sets differ on {diff} rows in all, '
           f'{ties} of them float32 ties')
  text = ('Interpretation: ours/faiss (best of repeats) is ' +
          ', '.join(f'{v:.2f} ({key})' for key, v in ratios.items()) +
          f' -- {verdict}; ours runs at {span("ours")}x the GEMM bound, '
          f'faiss at {span("faiss")}x')
  if max(swing.values()) > 1.5:
    m = max(METHODS, key=swing.get)
    r = max(ok, key=lambda r: max(r['rows'][m]['all_seconds']) /
            min(r['rows'][m]['all_seconds']))
    secs, loads = r['rows'][m]['all_seconds'], r['rows'][m]['all_loads']
    lo_i, hi_i = secs.index(min(secs)), secs.index(max(secs))
    text += (f'; repeats of one call differ by up to {swing["ours"]:.1f}x '
             f'(ours) and {swing["faiss"]:.1f}x (faiss) as other jobs take '
             f'cores of this shared machine (e.g. {m}, {r["data"]} '
             f'k={r["k"]}: {secs[lo_i]:.1f} s at load {loads[lo_i]:.1f} vs '
             f'{secs[hi_i]:.1f} s at load {loads[hi_i]:.1f})')
    busy = [f'{r["data"]} k={r["k"]}' for r in ok
            if min(r['rows']['faiss']['all_loads']) >= LOADED]
    if busy:
      text += (f', and every faiss repeat of {", ".join(busy)} ran at load '
               f'>= {LOADED:g} (the benchmark itself accounts for 2), so those '
               'ratios compare loaded runs')
  return text + (f'; {agree}, and D̄ agrees to the relative differences '
                 'shown.')


def main():
  parser = argparse.ArgumentParser(
      description=__doc__.splitlines()[0],
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--quick', action='store_true',
                      help='N = 20,000, k = 20, raw data only')
  parser.add_argument('--n', type=int, help='override: N')
  parser.add_argument('--d', type=int, help='override: D')
  parser.add_argument('--ks', help='override: comma-separated k')
  parser.add_argument('--data', help='override: comma-separated of raw,l2')
  parser.add_argument('--components', type=int, default=1000,
                      help='mixture components')
  parser.add_argument('--repeats', type=int, help='override: repeats (>= 2)')
  parser.add_argument('--probes', default='',
                      help='comma-separated probes of the approximate path')
  parser.add_argument('--queries', type=int, default=0,
                      help='time the first Q rows\' k-NN only, scaled by N/Q')
  parser.add_argument('--sample', type=int, default=2000,
                      help='rows checked against float64')
  parser.add_argument('--out', help='markdown results file (default: '
                      f'{os.path.relpath(OUT, ROOT)}; with --quick, the '
                      'same name with _quick)')
  parser.add_argument('--timeout', type=int, default=1800,
                      help='seconds per process')
  parser.add_argument('--worker', help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.worker:
    return worker(json.loads(args.worker))

  cfg = dict(QUICK if args.quick else FULL, components=args.components,
             queries=args.queries,
             probes=tuple(int(v) for v in args.probes.split(',') if v))
  for key in ('n', 'd', 'repeats'):
    if getattr(args, key) is not None:
      cfg[key] = getattr(args, key)
  if args.ks:
    cfg['ks'] = tuple(int(v) for v in args.ks.split(','))
  if args.data:
    cfg['data'] = tuple(args.data.split(','))
  if cfg['repeats'] < 2:
    parser.error('--repeats must be >= 2 (best of repeats)')
  out_path = args.out or (OUT.replace('.md', '_quick.md') if args.quick
                          else OUT)

  import faiss  # pylint: disable=g-import-not-at-top
  import jax  # pylint: disable=g-import-not-at-top
  cpu = 'unknown CPU'
  with open('/proc/cpuinfo') as f:
    for line in f:
      if line.startswith('model name'):
        cpu = line.split(':', 1)[1].strip()
        break
  mem = os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30
  GEMM_GFLOPS.update(sgemm_gflops(cfg['d']))
  head = (f'{cpu}, {os.cpu_count()} CPU cores, {mem:.0f} GiB RAM, no GPU; '
          f'load average {os.getloadavg()[0]:.2f} at the start (other jobs '
          f'share this machine). jax {jax.__version__} '
          f'({jax.devices()[0].platform}, {jax.device_count()} device), '
          f'faiss {faiss.__version__} (with {FAISS_BLAS}, '
          f'omp_set_num_threads({THREADS})), numpy {np.__version__}. '
          f'Threads: both methods use the {THREADS} cores. numpy sgemm '
          f'[512, {cfg["d"]}] x [{cfg["d"]}, 8192] (each result reduced at '
          f'once, 64 tiles) runs at '
          f'{GEMM_GFLOPS["numpy"]:.0f} GFLOP/s in numpy (OpenBLAS) and '
          f'{GEMM_GFLOPS["xla"]:.0f} in XLA right now; the bound below uses '
          f'the faster, {bound_gflops():.0f} GFLOP/s.')
  print(head)
  print(f'config: {cfg}', flush=True)
  start = time.perf_counter()
  results = []
  with tempfile.TemporaryDirectory() as tmp:
    for kind in cfg['data']:
      for k in cfg['ks']:
        print(f'[{kind}, N = {cfg["n"]:,}, k = {k}]', flush=True)
        results.append(run_config(cfg, kind, k, tmp, args.timeout,
                                  args.sample))
        print(fmt_row(results[-1]), flush=True)
  argv = sys.argv[1:]  # As run, without where the results went.
  shown = [a for i, a in enumerate(argv) if not a.startswith('--out')
           and not (i and argv[i - 1] == '--out')]
  cmd = ' '.join(['python experiments/bench_knn_density.py'] + shown)
  lines = [
      "# USL's k-NN density: al_jax vs faiss exact k-NN", '',
      f'`{cmd}`', '', head, '',
      f'Data: Gaussian mixture, {cfg["components"]:,} components (centres '
      f'N(0, I), per-component std {SIGMA} x 2^U(-1,1)), float32, seed 0; '
      '"l2": the same rows L2-normalised. D̄_i = mean of the k smallest '
      'squared distances from x_i to all rows, itself included; density = '
      f'1 / max(D̄, {FLOOR:g}). ' + (
          'ours = `al_jax.kernels.knn.knn_density(x, k)`; faiss = '
          '`IndexFlatL2` add + search(x, k)' if not cfg['queries'] else
          f'Only the first {cfg["queries"]:,} rows are queries (--queries; '
          'seconds scaled by N / Q): ours = `al_jax.kernels.knn.'
          'nearest_points(x[:Q], x, k)`; faiss = `IndexFlatL2` add + '
          'search(x[:Q], k)') + ' (the point itself is '
      'among its k) + the mean. Seconds: best of '
      f'{cfg["repeats"]} fresh processes (all listed, each @ the 1-minute '
      'load average right after it), one end-to-end call each, warm (ours: jit compile excluded, given after "+"). Bound: '
      f'2·N²·D flop at {bound_gflops():.0f} GFLOP/s. See the script\'s '
      'docstring for the details of every column.', '',
      '| data | N x D | k | ours s (repeats; compile) | faiss s (repeats) | '
      'ours/faiss | bound s | GFLOP/s ours / faiss | neighbour sets '
      'identical | max rel diff D̄ | D̄ max rel err vs float64 (ours / '
      f'faiss, {args.sample:,} rows) | peak GiB ours / faiss |',
      '|' + '---|' * 12]
  lines += [fmt_row(r) for r in results]
  notes = []
  for r in results:
    if 'sets' in r:
      gap = (f'worst float64 gap of a swapped neighbour pair '
             f'{r["sets"]["worst_gap_rel"]:.1e} x (||x_i||² + ||x_j||²) (tie '
             f'threshold {TIE_REL:g})' if r['sets']['differing'] else
             'no row to compare for ties')
      own = ('' if r['self_consistent'] is None else
             f' (ours: exactly 0); knn.knn(x, k - 1) reproduces '
             f'knn_density\'s D̄ to {r["self_consistent"]:.1e}')
      notes.append(
          f'{r["data"]}, k = {r["k"]}: median D̄ {r["d_mean"]:.4g}; faiss\'s '
          f'largest self distance {r["faiss_self_max"]:.2g}{own}; {gap}.')
  lines += fmt_probes(results)
  lines += [''] + [f'- {v}' for v in notes] + ['', interpretation(results),
                                               '']
  tail = (f'Total {time.perf_counter() - start:.0f} s wall; load average at '
          f'the end {os.getloadavg()[0]:.2f}.')
  lines.append(tail)
  print('\n'.join(lines[-(len(notes) + 4):]))
  os.makedirs(os.path.dirname(os.path.abspath(out_path)), exist_ok=True)
  with open(out_path, 'w') as f:
    f.write('\n'.join(lines) + '\n')
  print(f'wrote {out_path}')


if __name__ == '__main__':
  main()
