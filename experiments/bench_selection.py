r"""Benchmark: al_jax selection kernels against their peers, in one run.

  python experiments/bench_selection.py            # full sizes (~25 min on
                                                   # 2 CPU cores)
  python experiments/bench_selection.py --quick    # small sizes, < 2 min
  python experiments/bench_selection.py --sections kcenter,assign  # a subset

Sections (full / --quick sizes, D = 128 float32 throughout):

  kcenter    greedy k-center (CoreSet), N = 1,000,000 / 50,000, K = 1000 /
             100, 100 labeled points as initial centers.
             ours: kernels.kcenter.kcenter_greedy.
             peer: numpy farthest-first, the same algorithm (one mat-vec per
             step with the ||x||² + ||c||² - 2 x·c expansion); the picks are
             compared.
  kmeanspp   k-means++ seeding (D² sampling), same pool and K.
             ours: kernels.kmeanspp.kmeanspp_seed.
             peer: sklearn.cluster.kmeans_plusplus(n_local_trials=1), i.e.
             plain D² sampling (sklearn's default draws 2 + log K candidates
             per step and keeps the best one).
             Different RNGs, so the picks differ; notes give the k-means
             potential sum_i min_c ||x_i - c||² of both seedings.
  badge      BADGE seeding, C = 10 classes, same pool and K; candidates are
             the unlabeled points.
             ours: kmeanspp_seed_outer(badge_factors(logits), x): the
             [N, C·D] gradient embeddings are never formed.
             peer: kmeans_plusplus(n_local_trials=1) on the materialized
             [N, C·D] float32 gradient embeddings (4.8 GiB at full size),
             materialization timed. It is timed at K = 20 and 40 and
             EXTRAPOLATED linearly in K to the full K (the notes say so):
             scikit-learn upcasts float32 rows to float64 chunk by chunk and
             recomputes their norms at every step, which makes a full-K run
             take hours. If the embeddings exceed --badge_max_gib it runs on
             the first rows only and time and memory growth are extrapolated
             linearly in N.
  hac_exact  average-linkage HAC cut at eps, N = 5,000 and 20,000 / 2,000.
             ours: kernels.hac.hac_average (exact, nearest-neighbour chain)
             and kernels.hac.hac_multiround (approximate).
             peers: scipy.cluster.hierarchy.linkage and fastcluster.linkage
             (method='average'), cut with fcluster(..., 'distance').
             hac_average's N x N matrix is numpy's x @ x.T (OpenBLAS dsyrk),
             which segfaults here from N ~ 23,000 (OpenBLAS 0.3.31, 2
             threads), below hac.MAX_EXACT_POINTS = 30,000.
             Notes: whether the partition equals scipy's, adjusted Rand index
             (ARI) vs scipy and vs the generating blobs.
  hac_multi  multi-round HAC, N = 200,000 / 20,000: ours alone; scipy and
             fastcluster need the N(N-1)/2 float64 condensed distance matrix
             (149 GiB at 200,000), which the table prints as the reason.
  assign     cluster assignment (paper 000, A.2), N = 1,000,000 / 50,000 with
             a random 2 % seed subset (20,000 seeds at full size: exact HAC
             on 3 % = 30,000 seeds crashes, see hac_exact above).
             ours: kernels.hac.hac_assign(method='exact') (found in
             hac_multiround in older trees): exact HAC on the seeds, then each
             other point joins the nearest seed centroid within eps_c (else a
             singleton); the assignment stage is knn.nearest_centroid.
             peer: fastcluster average linkage on the same seeds, then
             sklearn.metrics.pairwise_distances_argmin_min to the centroids.
             Notes: the two stages' times (seed HAC, assignment), and the
             agreement of the two final partitions.

Data: kcenter / kmeanspp / badge use x ~ N(0, I) and logits ~ N(0, 9). The
HAC sections use a Gaussian mixture with N / 10 blobs (centers N(0, I),
within-blob std 0.35) so clusters hold ~10 points, like the paper's mean
cluster size of 10; eps = eps_c = 1.25 x the typical within-blob distance.

Measurement: every method runs in its own fresh process on the same data
(regenerated from the same seed). Imports, data generation and (for jax)
backend start-up happen first and are not timed; then the peak RSS is reset
(/proc/self/clear_refs) and the method runs. "peak GiB" is the process's peak
resident set during the method (inputs and libraries included), "+GiB" the
growth over the resident set just before it. Jax timings are of ONE cold call,
so they include jit compilation for that shape (the notes give an estimate of
it, where cheap). "t peer/ours" is the peer's time over ours (> 1: ours is
faster), "mem peer/ours" the same for peak GiB; both are on the peer's rows.

The machine this was written on has 2 CPU cores and runs other jobs at the
same time, so timings are noisy (the same call was seen to take 1x-6x as
long, depending on the load); compare ratios within one run only, and
rerun a section (--sections) when the load average printed is high.
"""

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIGMA = 0.35  # Within-blob noise of the Gaussian mixture.
SECTIONS = ('kcenter', 'kmeanspp', 'badge', 'hac_exact', 'hac_multi',
            'assign')

FULL = dict(n_pool=1_000_000, k=1000, labeled=100, classes=10,
            hac_exact_n=(5_000, 20_000), hac_multi_n=200_000,
            assign_n=1_000_000, seed_frac=0.02,
            # method -> small K: timed at K and 2K, extrapolated to the full K.
            k_small={'badge_sklearn': 20})
QUICK = dict(n_pool=50_000, k=100, labeled=100, classes=10,
             hac_exact_n=(2_000,), hac_multi_n=20_000, assign_n=50_000,
             seed_frac=0.02, k_small={'badge_sklearn': 20})


# ---------------------------------------------------------------- data


def eps_for(d: int) -> float:
  """1.25 x the typical distance between two points of one blob."""
  return 1.25 * SIGMA * math.sqrt(2 * d)


def make_pool(n, d, labeled, classes, seed=0):
  """x [N, D] ~ N(0, I) float32, labeled mask [N], logits [N, C] float32."""
  rng = np.random.default_rng(seed)
  x = rng.standard_normal((n, d), dtype=np.float32)
  mask = np.zeros(n, bool)
  mask[rng.choice(n, labeled, replace=False)] = True
  logits = 3 * rng.standard_normal((n, classes), dtype=np.float32)
  return x, mask, logits


def mixture_truth(n, d, seed=0):
  """(rng after the draws, blob centers [N/10, D], blob of each point [N])."""
  rng = np.random.default_rng(seed)
  centers = rng.normal(size=(max(n // 10, 1), d))
  return rng, centers, rng.integers(0, centers.shape[0], n)


def make_mixture(n, d, seed=0, chunk=65_536):
  """[N, D] float32 Gaussian mixture, built in chunks (no N x D float64)."""
  rng, centers, truth = mixture_truth(n, d, seed)
  x = np.empty((n, d), np.float32)
  for s in range(0, n, chunk):
    e = min(s + chunk, n)
    x[s:e] = centers[truth[s:e]] + SIGMA * rng.standard_normal((e - s, d))
  return x


def seed_mask_for(n, frac, seed=1):
  mask = np.zeros(n, bool)
  mask[np.random.default_rng(seed).choice(n, max(2, int(frac * n)),
                                          replace=False)] = True
  return mask


def canonical(labels):
  """Relabels 0..K-1 in order of first appearance (equal iff same partition)."""
  _, first, inverse = np.unique(np.asarray(labels), return_index=True,
                                return_inverse=True)
  rank = np.empty(first.size, np.int64)
  rank[np.argsort(first, kind='stable')] = np.arange(first.size)
  return rank[inverse.reshape(-1)]


# ---------------------------------------------------------------- memory


def publish(lines: list[str], out: str | None):
  """Prints a benchmark's markdown and writes it to `out`.md if given."""
  text = '\n'.join(lines) + '\n'
  print(text)
  if out:
    os.makedirs(os.path.dirname(out) or '.', exist_ok=True)
    with open(out + '.md', 'w') as f:
      f.write(text)


def gemm_rates() -> dict:
  """float32 GEMM rates (flop/s) of a 2048³ product: jnp.dot and numpy's
  sgemm, best of 5 after a warm-up."""
  import jax  # pylint: disable=g-import-not-at-top
  a = np.random.default_rng(0).standard_normal((2048, 2048), np.float32)
  aj = jax.numpy.asarray(a)
  dot = jax.jit(jax.numpy.dot)
  rates = {}
  for name, fn in (('jnp.dot', lambda: dot(aj, aj).block_until_ready()),
                   ('np sgemm', lambda: a @ a)):
    fn()
    rates[name] = 2 * 2048**3 / min(_timed(fn)[0] for _ in range(5))
  return rates


def _status_kib(field):
  with open('/proc/self/status') as f:
    for line in f:
      if line.startswith(field + ':'):
        return int(line.split()[1])
  raise KeyError(field)


def reset_peak() -> bool:
  """Resets the kernel's peak-RSS counter (VmHWM); False if not allowed."""
  try:
    with open('/proc/self/clear_refs', 'w') as f:
      f.write('5')
    return True
  except OSError:
    return False


def rss_bytes():
  return _status_kib('VmRSS') * 1024


def peak_bytes(resettable):
  if resettable:
    return _status_kib('VmHWM') * 1024
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# ---------------------------------------------------------------- peers


def kcenter_numpy(x, labeled, k, chunk=65_536):
  """numpy farthest-first written for speed, lowest index on ties.

  The initial distances to the labeled rows are chunked GEMMs; each step is
  one float32 sgemv into a preallocated buffer and in-place updates.
  """
  norms = np.einsum('ij,ij->i', x, x)
  centers = x[labeled]
  c_norms = np.einsum('ij,ij->i', centers, centers)
  min_d = np.full(len(x), np.inf, np.float32)
  if len(centers):
    for s in range(0, len(x), chunk):
      dd = (norms[s:s + chunk, None] + c_norms[None] -
            2 * x[s:s + chunk] @ centers.T)
      min_d[s:s + chunk] = np.maximum(dd, 0).min(1)
  min_d[labeled] = -np.inf  # Never picked again: -inf stays below any min.
  buf = np.empty(len(x), np.float32)
  picks = np.empty(k, np.int64)
  for i in range(k):
    j = int(np.argmax(min_d))
    picks[i] = j
    lower_min_distance(x, norms, j, min_d, buf)
    min_d[j] = -np.inf
  return picks


def lower_min_distance(x, norms, j, min_d, buf):
  """min_d = min(min_d, ||x - x_j||²): one sgemv into `buf`, in place."""
  np.dot(x, x[j], out=buf)
  buf *= -2
  buf += norms
  buf += norms[j]
  np.maximum(buf, 0, out=buf)
  np.minimum(min_d, buf, out=min_d)


def badge_factors_numpy(logits):
  p = np.exp(logits - logits.max(1, keepdims=True))
  p /= p.sum(1, keepdims=True)
  p[np.arange(len(p)), p.argmax(1)] -= 1
  return p


def kmeans_potential(x, centers, a=None, a_c=None, chunk=16_384):
  """sum_i min_c ||x_i - c||², or over a_i ⊗ x_i when a is given (BADGE)."""
  x = np.asarray(x, np.float32)
  c = np.asarray(centers, np.float32)
  cn = np.einsum('ij,ij->i', c, c)
  if a is not None:
    cn = cn * np.einsum('ij,ij->i', a_c, a_c)
  total = 0.0
  for s in range(0, len(x), chunk):
    xb = x[s:s + chunk]
    xn = np.einsum('ij,ij->i', xb, xb)
    cross = xb @ c.T
    if a is not None:
      ab = a[s:s + chunk]
      xn = xn * np.einsum('ij,ij->i', ab, ab)
      cross = cross * (ab @ a_c.T)
    total += float(np.maximum(xn[:, None] + cn[None] - 2 * cross, 0)
                   .min(1).sum(dtype=np.float64))
  return total


def covering_radius(x, centers, chunk=16_384):
  """max_i min_c ||x_i - c||, the k-center objective, in float64."""
  centers = np.asarray(centers, np.float64)
  cn = np.einsum('ij,ij->i', centers, centers)
  worst = 0.0
  for s in range(0, len(x), chunk):
    xb = x[s:s + chunk].astype(np.float64)
    d = np.einsum('ij,ij->i', xb, xb)[:, None] + cn[None] - 2 * xb @ centers.T
    worst = max(worst, float(np.maximum(d, 0).min(1).max()))
  return math.sqrt(worst)


# ---------------------------------------------------------------- methods
# prepare(spec, data) -> (warmup, run, post):
#   warmup(): untimed, before the peak reset (jit compile estimate), or None;
#   run() -> (seconds, array saved for the comparisons, extra dict);
#   post(array, extra): untimed, after the peak is recorded, or None.


def _timed(fn):
  t = time.perf_counter()
  out = fn()
  return time.perf_counter() - t, out


def _k_timed(spec, fn, extra):
  """fn(K), or fn(K_small), fn(2 K_small) extrapolated linearly to K."""
  ks = spec.get('k_small')
  if not ks:
    return _timed(lambda: fn(spec['k']))
  t1, _ = _timed(lambda: fn(ks))
  t2, out = _timed(lambda: fn(2 * ks))
  extra['measured'] = [ks, t1, t2]
  return max(t2, t2 + (t2 - t1) / ks * (spec['k'] - 2 * ks)), out


def _prepare_ours_seeding(spec, data):
  import jax  # pylint: disable=g-import-not-at-top
  from al_jax.kernels import kcenter, kmeanspp  # pylint: disable=g-import-not-at-top
  from al_jax.scores import gradients  # pylint: disable=g-import-not-at-top
  m = spec['method']
  x, labeled, logits = data
  key = jax.random.key(0)

  def call(k, rows=None):
    xs, ls, gs = (x, labeled, logits) if rows is None else (
        x[:rows], labeled[:rows], logits[:rows])
    if m == 'kcenter_ours':
      return kcenter.kcenter_greedy(xs, ls, k)
    if m == 'kmeanspp_ours':
      return kmeanspp.kmeanspp_seed(xs, k, key)
    a = np.asarray(gradients.badge_factors(gs))
    return kmeanspp.kmeanspp_seed_outer(a, xs, k, key, ~ls)

  extra = {}

  def warmup():
    # Two calls at a small K on a slice of the pool that holds labeled
    # points: cold minus warm ~ the compile time, which the full call pays
    # again (K and N are static) at about the same cost. A slice, so that
    # freed device buffers of the warm-up do not inflate the baseline RSS.
    rows = min(len(x), max(65_536, int(np.flatnonzero(labeled)[0]) + 1))
    k0 = min(10, spec['k'], rows - int(labeled[:rows].sum()))
    t = [_timed(lambda: call(k0, rows))[0] for _ in range(2)]
    extra['compile_s'] = max(t[0] - t[1], 0.0)

  def run():
    seconds, picks = _timed(lambda: call(spec['k']))
    return seconds, picks, extra
  return warmup, run, None


def _prepare(spec, data):
  m = spec['method']
  if m in ('kcenter_ours', 'kmeanspp_ours', 'badge_ours'):
    return _prepare_ours_seeding(spec, data)
  if m == 'kcenter_numpy':
    x, labeled, _ = data

    def run():
      extra = {}
      seconds, picks = _k_timed(spec, lambda k: kcenter_numpy(x, labeled, k),
                                extra)
      return seconds, picks, extra
    return None, run, None
  if m in ('kmeanspp_sklearn', 'badge_sklearn'):
    from third_party import sklearn_peers  # pylint: disable=g-import-not-at-top
    x, labeled, logits = data
    if m == 'kmeanspp_sklearn':
      fn = lambda k: sklearn_peers.d2_seeding(x, k)
    else:
      rows = np.flatnonzero(~labeled)[:spec.get('n_sub') or None]

      def fn(k):  # Materialization is part of the peer's cost.
        p = badge_factors_numpy(logits[rows])
        g = (p[:, :, None] * x[rows, None, :]).reshape(len(rows), -1)
        return rows[sklearn_peers.d2_seeding(g, k)]

    def run():
      extra = {}
      seconds, picks = _k_timed(spec, fn, extra)
      return seconds, picks, extra
    return None, run, None
  if m.startswith('hac_'):
    extra = {}

    def run():
      seconds, labels = _timed(lambda: _hac(m, data, spec['eps']))
      return seconds, labels, extra

    def post(labels, extra):
      if m == 'hac_ours_multiround' and spec.get('warm_rerun'):
        extra['warm_s'] = _timed(lambda: _hac(m, data, spec['eps']))[0]
    return None, run, post
  if m == 'assign_ours':
    return None, lambda: _assign_ours(spec, data), _assign_ours_stage(
        spec, data)
  if m == 'assign_peer':
    return None, lambda: _assign_peer(spec, data), None
  raise ValueError(m)


def _hac(m, x, eps):
  if m in ('hac_scipy', 'hac_fastcluster'):
    from third_party import hac_peers  # pylint: disable=g-import-not-at-top
    return hac_peers.average_clusters(x, eps, library=m[len('hac_'):])
  import warnings  # pylint: disable=g-import-not-at-top
  from al_jax.kernels import hac  # pylint: disable=g-import-not-at-top
  with warnings.catch_warnings():
    warnings.simplefilter('ignore')
    if m == 'hac_ours_exact':
      return hac.hac_average(x, eps)
    return hac.hac_multiround(x, eps, k=10)


def _assign_ours(spec, x):
  import warnings  # pylint: disable=g-import-not-at-top
  from al_jax.kernels.hac import hac_assign  # pylint: disable=g-import-not-at-top
  seeds = seed_mask_for(len(x), spec['seed_frac'])
  with warnings.catch_warnings():
    warnings.simplefilter('ignore')
    seconds, labels = _timed(lambda: hac_assign(
        x, seeds, spec['eps'], spec['eps'], method=spec['assign_hac']))
  return seconds, labels, {}


def _assign_ours_stage(spec, x):
  """post: re-times the assignment stage alone (nearest_centroid) from the
  seed clusters hac_assign found; its memory is within the run's peak."""
  from al_jax.kernels.knn import nearest_centroid  # pylint: disable=g-import-not-at-top

  def post(labels, extra):
    seeds = seed_mask_for(len(x), spec['seed_frac'])
    seed_labels = canonical(labels[seeds])
    sums = np.zeros((seed_labels.max() + 1, x.shape[1]))
    np.add.at(sums, seed_labels, x[seeds])
    cent = sums / np.bincount(seed_labels)[:, None]
    t = time.perf_counter()
    nearest_centroid(x[~seeds], cent)
    extra.update(assign_s=time.perf_counter() - t,
                 seed_clusters=int(cent.shape[0]))
  return post


def _assign_peer(spec, x):
  from third_party import hac_peers, sklearn_peers  # pylint: disable=g-import-not-at-top
  seeds = seed_mask_for(len(x), spec['seed_frac'])
  eps = spec['eps']
  t0 = time.perf_counter()
  sx = x[seeds]
  seed_labels = hac_peers.average_clusters(sx, eps, library='fastcluster')
  n_clusters = int(seed_labels.max()) + 1
  sums = np.zeros((n_clusters, x.shape[1]))
  np.add.at(sums, seed_labels, sx)
  cent = (sums / np.bincount(seed_labels)[:, None]).astype(np.float32)
  t1 = time.perf_counter()
  idx, dist = sklearn_peers.nearest_centroid(x[~seeds], cent)
  t2 = time.perf_counter()
  far = dist > eps
  labels = np.empty(len(x), np.int64)
  labels[seeds] = seed_labels
  labels[~seeds] = np.where(far, n_clusters + np.cumsum(far) - 1, idx)
  labels = canonical(labels)
  seconds = time.perf_counter() - t0
  return seconds, labels, dict(seed_hac_s=t1 - t0, assign_s=t2 - t1,
                               seed_clusters=n_clusters)


# ---------------------------------------------------------------- worker


def worker(spec):
  m = spec['method']
  # Imports, data and backend start-up first: neither timed nor in the peak.
  if 'ours' in m:
    import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
    from al_jax.kernels import hac, kcenter, kmeanspp, knn  # pylint: disable=g-import-not-at-top,unused-import
    jnp.zeros(8).block_until_ready()
  else:
    import fastcluster  # pylint: disable=g-import-not-at-top,unused-import
    import scipy.cluster.hierarchy  # pylint: disable=g-import-not-at-top,unused-import
    import sklearn.cluster  # pylint: disable=g-import-not-at-top,unused-import
    import sklearn.metrics  # pylint: disable=g-import-not-at-top,unused-import
  if spec['data'] == 'pool':
    data = make_pool(spec['n'], spec['d'], spec['labeled'], spec['classes'])
  else:
    data = make_mixture(spec['n'], spec['d'])
  warmup, run, post = _prepare(spec, data)
  if warmup:
    warmup()
  resettable = reset_peak()
  rss0 = rss_bytes()
  seconds, arr, extra = run()
  peak = peak_bytes(resettable)
  arr = np.asarray(arr)
  if post:
    post(arr, extra)
  out = dict(spec, **extra)
  out.update(seconds=seconds, peak=peak, growth=max(peak - rss0, 0),
             peak_reset=resettable)
  if m.startswith('kcenter') and not spec.get('k_small'):
    x, labeled, _ = data
    out['radius'] = covering_radius(x, x[np.concatenate(
        [np.flatnonzero(labeled), arr])])
  if m.startswith(('kmeanspp', 'badge')) and not spec.get('k_small'):
    x, labeled, logits = data
    if m.startswith('badge'):
      a = badge_factors_numpy(logits)
      rows = np.flatnonzero(~labeled)
      out['potential'] = kmeans_potential(x[rows], x[arr], a[rows], a[arr])
    else:
      out['potential'] = kmeans_potential(x, x[arr])
  np.save(spec['out'], arr)
  print('RESULT ' + json.dumps(out), flush=True)


def run_worker(script, spec, timeout, env_extra=None):
  """Runs `script --worker <spec>` in a fresh process; returns the dict its
  last 'RESULT ' line holds, or spec with 'failed' (printed) on a timeout or
  a crash."""
  cmd = [sys.executable, os.path.abspath(script), '--worker',
         json.dumps(spec)]
  env = dict(os.environ)
  env['PYTHONPATH'] = ROOT + os.pathsep + env.get('PYTHONPATH', '')
  env.update(env_extra or {})
  try:
    res = subprocess.run(cmd, env=env, capture_output=True, text=True,
                         timeout=timeout)
  except subprocess.TimeoutExpired:
    print(f'  {spec["method"]} N={spec["n"]:,}: TIMEOUT after {timeout} s',
          flush=True)
    return dict(spec, failed=f'timeout > {timeout} s')
  lines = [l for l in res.stdout.splitlines() if l.startswith('RESULT ')]
  if res.returncode or not lines:
    print(f'  {spec["method"]} N={spec["n"]:,}: FAILED (rc {res.returncode})'
          '\n' + res.stderr[-3000:], flush=True)
    return dict(spec, failed=f'rc {res.returncode}')
  return json.loads(lines[-1][len('RESULT '):])


def run_and_print(script, spec, timeout, env_extra, label: str):
  """`run_worker`, then one progress line: `label`, seconds, peak memory
  (when measured) and the load average; returns the result dict."""
  out = run_worker(script, spec, timeout, env_extra)
  if 'failed' not in out:
    peak = (f'  peak {out["peak"] / 2**30:5.2f} GiB' if 'peak' in out
            else '')
    print(f'  {label}: {out["seconds"]:8.2f} s{peak}  (load '
          f'{os.getloadavg()[0]:.1f})', flush=True)
  return out


def spawn(spec, timeout):
  """Runs one method in a fresh process; returns its result dict."""
  out = run_worker(__file__, spec, timeout)
  if 'failed' in out:
    return out
  out['array'] = np.load(spec['out'])
  os.remove(spec['out'])
  print(f'  done {spec["method"]:20s} N={spec["n"]:>9,}  '
        f'{out["seconds"]:8.2f} s  peak {out["peak"] / 2**30:6.2f} GiB',
        flush=True)
  return out


# ---------------------------------------------------------------- driver


class Bench:
  """Runs the sections and collects the table rows."""

  def __init__(self, args, sizes, tmp, gemm):
    self.args, self.sizes, self.tmp, self.gemm = args, sizes, tmp, gemm
    self.rows = []
    self.d = args.d

  def run(self, method, n, data, **kw):
    spec = dict(method=method, n=n, d=self.d, data=data,
                out=os.path.join(self.tmp, f'{method}_{n}.npy'), **kw)
    return spawn(spec, self.args.timeout)

  def row(self, section, r, k=None, ours=None, notes=()):
    """One table row; `ours`: our result this peer row is compared with."""
    row = dict(section=section, method=r['method'], n=r['n'], d=r['d'],
               k=k if k is not None else r.get('k'), notes=list(notes))
    if r.get('failed'):
      row['notes'].insert(0, 'FAILED: ' + r['failed'])
    else:
      row.update(seconds=r['seconds'], peak=r['peak'], growth=r['growth'])
      if not r.get('peak_reset', True):
        row['notes'].append('peak: lifetime ru_maxrss (reset unavailable)')
      if ours is not None and not ours.get('failed'):
        row['t_ratio'] = r['seconds'] / ours['seconds']
        row['m_ratio'] = r['peak'] / ours['peak']
    self.rows.append(row)
    return row

  def note(self, section, method, n, text):
    self.rows.append(dict(section=section, method=method, n=n, d=self.d,
                          k=None, notes=[text]))

  # -- sections

  def seeding(self, section, ours_m, peer_m, peer_note):
    s = self.sizes
    common = dict(k=s['k'], labeled=s['labeled'], classes=s['classes'])
    n = s['n_pool']
    ours = self.run(ours_m, n, 'pool', **common)
    peer_kw = dict(common)
    ks = s['k_small'].get(peer_m, 0)
    if ks and 2 * ks < s['k']:
      peer_kw['k_small'] = ks
    scale = 1.0
    if peer_m == 'badge_sklearn':
      rows = n - s['labeled']
      limit = int(self.args.badge_max_gib * 2**30 // (s['classes'] * self.d
                                                        * 4))
      if rows > limit:
        peer_kw['n_sub'] = limit
        scale = rows / limit
    peer = self.run(peer_m, n, 'pool', **peer_kw)
    notes = []
    if ours.get('compile_s') is not None:
      notes.append(f'incl. ~{ours["compile_s"]:.1f} s jit compile')
    if 'potential' in ours:
      notes.append(f'potential {ours["potential"]:.4g}')
    self.row(section, ours, notes=notes)
    notes = [peer_note]
    if not peer.get('failed'):
      if scale != 1.0:
        peer['seconds'] *= scale
        peer['peak'] = peer['peak'] - peer['growth'] + scale * peer['growth']
        peer['growth'] *= scale
        notes.append(f'EXTRAPOLATED in N: ran on {peer_kw["n_sub"]:,} rows '
                     f'(embeddings > {self.args.badge_max_gib} GiB), time and '
                     f'+GiB x{scale:.2f}')
      if peer.get('measured'):
        ks, t1, t2 = peer['measured']
        notes.append(f'EXTRAPOLATED in K from K={ks} ({t1:.1f} s) and '
                     f'K={2 * ks} ({t2:.1f} s)' + (
                         '' if t2 > t1 else ': NO slope (noise), so this is '
                         f'only the K={2 * ks} time, a lower bound'))
      if 'potential' in peer:
        notes.append(f'potential {peer["potential"]:.4g}')
      if 'radius' in peer and 'radius' in ours:
        self.rows[-1]['notes'].append(f'covering radius {ours["radius"]:.4f}')
        notes.append(f'covering radius {peer["radius"]:.4f}')
      if section == 'kcenter' and not ours.get('failed'):
        a, b = ours['array'], peer['array']
        m = min(len(a), len(b))
        agree = int(np.argmin(a[:m] == b[:m])) if not np.all(
            a[:m] == b[:m]) else m
        notes.append(f'first {agree} of {m} picks equal ours')
    self.row(section, peer, ours=ours, notes=notes)

  def hac_exact(self):
    from sklearn.metrics import adjusted_rand_score  # pylint: disable=g-import-not-at-top
    for n in self.sizes['hac_exact_n']:
      eps = eps_for(self.d)
      truth = mixture_truth(n, self.d)[2]
      res = {m: self.run(m, n, 'mixture', eps=eps, warm_rerun=n <= 50_000)
             for m in ('hac_scipy', 'hac_fastcluster', 'hac_ours_exact',
                       'hac_ours_multiround')}
      ref = res['hac_scipy']
      ours = res['hac_ours_exact']
      for m in ('hac_ours_exact', 'hac_ours_multiround', 'hac_scipy',
                'hac_fastcluster'):
        r = res[m]
        if r.get('failed'):
          self.row('hac_exact', r)
          continue
        labels = canonical(r['array'])
        notes = []
        if m != 'hac_scipy' and not ref.get('failed'):
          same = np.array_equal(labels, canonical(ref['array']))
          notes.append(f'same partition as scipy: {"yes" if same else "no"}'
                       + ('' if same else ', ARI vs scipy '
                          f'{adjusted_rand_score(ref["array"], labels):.4f}'))
        notes.append(f'ARI vs blobs {adjusted_rand_score(truth, labels):.4f}')
        if m == 'hac_ours_multiround':
          notes.append('approximate (graph HAC)')
          if 'warm_s' in r:
            notes.append(f'2nd (warm, no compile) call {r["warm_s"]:.2f} s')
        self.row('hac_exact', r, k=int(labels.max()) + 1, notes=notes,
                 ours=ours if m in ('hac_scipy', 'hac_fastcluster') else None)

  def hac_multi(self):
    from sklearn.metrics import adjusted_rand_score  # pylint: disable=g-import-not-at-top
    n = self.sizes['hac_multi_n']
    r = self.run('hac_ours_multiround', n, 'mixture', eps=eps_for(self.d))
    notes = []
    if not r.get('failed'):
      labels = canonical(r['array'])
      truth = mixture_truth(n, self.d)[2]
      notes.append(f'ARI vs blobs {adjusted_rand_score(truth, labels):.4f}, '
                   f'mean cluster size {n / (labels.max() + 1):.2f}')
      k = int(labels.max()) + 1
    else:
      k = None
    self.row('hac_multi', r, k=k, notes=notes)
    gib = n * (n - 1) / 2 * 8 / 2**30
    total = os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30
    why = (f'not run: needs the N(N-1)/2 float64 condensed distance matrix, '
           f'{gib:.1f} GiB (machine: {total:.0f} GiB)')
    if gib < total:
      why = f'not run (ours-only section); it would need {gib:.1f} GiB here'
    for m in ('hac_scipy', 'hac_fastcluster'):
      self.note('hac_multi', m, n, why)

  def assign(self):
    from sklearn.metrics import adjusted_rand_score  # pylint: disable=g-import-not-at-top
    s = self.sizes
    n = s['assign_n']
    kw = dict(eps=eps_for(self.d), seed_frac=s['seed_frac'],
              assign_hac=self.args.assign_hac)
    ours = self.run('assign_ours', n, 'mixture', **kw)
    peer = self.run('assign_peer', n, 'mixture', **kw)
    n_seeds = int(seed_mask_for(n, s['seed_frac']).sum())
    k_ours = k_peer = None
    notes = [f'{n_seeds:,} seeds, seed HAC {self.args.assign_hac}']
    if not ours.get('failed'):
      k_ours = int(canonical(ours['array']).max()) + 1
      flop = 2 * (n - n_seeds) * ours['seed_clusters'] * self.d
      notes.append(f'{ours["seed_clusters"]:,} seed clusters; assignment '
                   f'stage alone (nearest_centroid, re-timed) '
                   f'{ours["assign_s"]:.1f} s, bound {flop / self.gemm:.1f} s '
                   f'(2·N·C·D flop at {self.gemm / 1e9:.0f} GFLOP/s)')
    self.row('assign', ours, k=k_ours, notes=notes)
    notes = ['fastcluster on the seeds + sklearn '
             'pairwise_distances_argmin_min']
    if not peer.get('failed'):
      k_peer = int(peer['array'].max()) + 1
      notes.append(f'seed HAC {peer["seed_hac_s"]:.1f} s, assignment '
                   f'{peer["assign_s"]:.1f} s')
      if not ours.get('failed'):
        same = np.array_equal(canonical(ours['array']), peer['array'])
        notes.append(f'assignment stage peer/ours '
                     f'{peer["assign_s"] / ours["assign_s"]:.2f}x')
        notes.append('same partition as ours: ' + (
            'yes' if same else
            f'no, ARI {adjusted_rand_score(ours["array"], peer["array"]):.4f}'
            f', labels equal on '
            f'{np.mean(canonical(ours["array"]) == peer["array"]):.2%}'))
    self.row('assign', peer, k=k_peer, ours=ours, notes=notes)


def print_table(rows):
  head = (f'{"section":10s} {"method":20s} {"N":>9s} {"D":>4s} {"K":>7s} '
          f'{"seconds":>9s} {"peak GiB":>8s} {"+GiB":>6s} {"t peer/ours":>11s}'
          f' {"mem peer/ours":>13s}  notes')
  print(head)
  print('-' * len(head))
  for r in rows:
    k = '' if r.get('k') is None else f'{r["k"]:,}'
    if 'seconds' in r:
      nums = (f'{r["seconds"]:9.2f} {r["peak"] / 2**30:8.2f} '
              f'{r["growth"] / 2**30:6.2f}')
    else:
      nums = f'{"-":>9s} {"-":>8s} {"-":>6s}'
    tr = f'{r["t_ratio"]:10.2f}x' if 't_ratio' in r else ''
    mr = f'{r["m_ratio"]:12.2f}x' if 'm_ratio' in r else ''
    print(f'{r["section"]:10s} {r["method"]:20s} {r["n"]:>9,} {r["d"]:>4d} '
          f'{k:>7s} {nums} {tr:>11s} {mr:>13s}  {"; ".join(r["notes"])}')


def main():
  parser = argparse.ArgumentParser(
      description=__doc__.splitlines()[0],
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument('--quick', action='store_true',
                      help='small sizes, finishes in < 2 minutes')
  parser.add_argument('--sections', default=','.join(SECTIONS),
                      help=f'comma-separated subset of {",".join(SECTIONS)}')
  parser.add_argument('--d', type=int, default=128)
  parser.add_argument('--n_pool', type=int, help='override: k-center / '
                      'k-means++ / BADGE pool size')
  parser.add_argument('--k', type=int, help='override: budget K')
  parser.add_argument('--hac_exact_n', help='override: comma-separated N')
  parser.add_argument('--hac_multi_n', type=int, help='override')
  parser.add_argument('--assign_n', type=int, help='override')
  parser.add_argument('--seed_frac', type=float, help='override (assign)')
  parser.add_argument('--assign_hac', default='exact',
                      choices=('exact', 'multiround', 'auto'),
                      help="hac_assign's seed HAC method")
  parser.add_argument('--badge_max_gib', type=float, default=8.0,
                      help='largest materialized BADGE embedding matrix for '
                      'the scikit-learn peer; beyond it, extrapolate in N')
  parser.add_argument('--no_extrapolate', action='store_true',
                      help='run every peer at the full K')
  parser.add_argument('--timeout', type=int, default=1800,
                      help='seconds per method process')
  parser.add_argument('--worker', help=argparse.SUPPRESS)
  args = parser.parse_args()
  if args.worker:
    return worker(json.loads(args.worker))

  sizes = dict(QUICK if args.quick else FULL)
  for name in ('n_pool', 'k', 'hac_multi_n', 'assign_n', 'seed_frac'):
    if getattr(args, name) is not None:
      sizes[name] = getattr(args, name)
  if args.hac_exact_n:
    sizes['hac_exact_n'] = tuple(int(v) for v in args.hac_exact_n.split(','))
  if args.no_extrapolate:
    sizes['k_small'] = {}
  sections = [s for s in args.sections.split(',') if s]
  for s in sections:
    if s not in SECTIONS:
      parser.error(f'unknown section {s!r}; valid: {SECTIONS}')

  import jax  # pylint: disable=g-import-not-at-top
  import scipy  # pylint: disable=g-import-not-at-top
  import sklearn  # pylint: disable=g-import-not-at-top
  mem = os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30
  print(f'{"quick" if args.quick else "full"} run: {os.cpu_count()} CPUs, '
        f'{mem:.0f} GiB RAM, load average {os.getloadavg()[0]:.2f}; jax '
        f'{jax.__version__} ({jax.devices()[0].platform}), scipy '
        f'{scipy.__version__}, scikit-learn {sklearn.__version__}')
  gemm = gemm_rates()
  print('float32 GEMM ' + ', '.join(f'{k} {v / 1e9:.0f} GFLOP/s'
                                    for k, v in gemm.items()))
  print(f'sizes: {sizes}; eps = eps_c = {eps_for(args.d):.3f}', flush=True)
  start = time.perf_counter()
  with tempfile.TemporaryDirectory() as tmp:
    bench = Bench(args, sizes, tmp, max(gemm.values()))
    for s in sections:
      t = time.perf_counter()
      print(f'[{s}]', flush=True)
      if s == 'kcenter':
        bench.seeding('kcenter', 'kcenter_ours', 'kcenter_numpy',
                      'numpy farthest-first')
      elif s == 'kmeanspp':
        bench.seeding('kmeanspp', 'kmeanspp_ours', 'kmeanspp_sklearn',
                      'kmeans_plusplus(n_local_trials=1)')
      elif s == 'badge':
        bench.seeding('badge', 'badge_ours', 'badge_sklearn',
                      f'kmeans_plusplus on materialized [N, '
                      f'{sizes["classes"]}x{args.d}]')
      elif s == 'hac_exact':
        bench.hac_exact()
      elif s == 'hac_multi':
        bench.hac_multi()
      elif s == 'assign':
        bench.assign()
      print(f'  section {s}: {time.perf_counter() - t:.0f} s wall', flush=True)
  print()
  print_table(bench.rows)
  print(f'\ntotal {time.perf_counter() - start:.0f} s wall; load average at '
        f'the end {os.getloadavg()[0]:.2f} (other jobs on this machine make '
        f'timings noisy: compare ratios within one run).')


if __name__ == '__main__':
  main()
