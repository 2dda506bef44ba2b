"""Benchmark: al_jax HAC kernels vs scipy and fastcluster average linkage.

Every method runs in its own fresh process on the same data (regenerated from
the same seed), so its peak memory is its own: we print the peak resident set
size above the process's baseline after imports and data generation.

  python experiments/bench_hac.py            # N = 5,000 and 20,000 exact;
                                              # 200,000 multi-round
  python experiments/bench_hac.py --quick    # N = 2,000 and 5,000; 20,000

Data: a Gaussian mixture in D = 128 with N / 10 centres, N(0, I) centres and
within-blob noise of std 0.35, so blobs hold ~10 points, like the paper's
target mean cluster size of 10; eps = 1.25 x the typical within-blob distance.
"""

import argparse
import multiprocessing as mp
import resource
import time

import numpy as np

D = 128
SIGMA = 0.35


def make_data(n: int, seed: int = 0) -> np.ndarray:
  rng = np.random.default_rng(seed)
  centers = rng.normal(size=(n // 10, D))
  return (centers[rng.integers(0, n // 10, n)]
          + SIGMA * rng.normal(size=(n, D))).astype(np.float32)


EPS = 1.25 * SIGMA * np.sqrt(2 * D)


def _rss_bytes() -> int:
  import psutil  # pylint: disable=g-import-not-at-top
  return psutil.Process().memory_info().rss


def _peak_bytes() -> int:
  return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _child(method: str, n: int, queue) -> None:
  """Runs one method on make_data(n); puts (seconds, peak bytes, labels)."""
  # pylint: disable=g-import-not-at-top
  import warnings
  from scipy.cluster import hierarchy
  x = make_data(n)
  if method.startswith('ours'):
    from al_jax.kernels import hac
    from al_jax.kernels import hac_multiround
  elif method == 'fastcluster':
    import fastcluster
  base = _rss_bytes()
  cold = None
  if method == 'ours_multiround' and n <= 50_000:
    # First call includes jit compilation for this N; report it separately
    # (at 200,000 points compilation is noise next to the k-NN graph).
    start = time.perf_counter()
    hac_multiround.hac_multiround(x, EPS, k=10)
    cold = time.perf_counter() - start
  start = time.perf_counter()
  with warnings.catch_warnings():
    warnings.simplefilter('ignore')
    if method == 'ours_exact':
      labels = hac.hac_average(x, EPS)
    elif method == 'ours_exact_full_tree':
      heights = hac.average_linkage_heights(x)
      labels = np.array([n - int((heights <= EPS).sum())])  # K only.
    elif method == 'ours_multiround':
      labels = hac_multiround.hac_multiround(x, EPS, k=10)
    elif method == 'scipy':
      labels = hierarchy.fcluster(hierarchy.linkage(x, 'average'), EPS,
                                  'distance')
    elif method == 'fastcluster':
      labels = hierarchy.fcluster(fastcluster.linkage(x, 'average'), EPS,
                                  'distance')
    else:
      raise ValueError(method)
  seconds = time.perf_counter() - start
  queue.put((seconds, max(_peak_bytes() - base, 0), np.asarray(labels), cold))


def run(method: str, n: int):
  ctx = mp.get_context('spawn')
  queue = ctx.Queue()
  proc = ctx.Process(target=_child, args=(method, n, queue))
  proc.start()
  result = queue.get()
  proc.join()
  return result


def _fmt(method, n, seconds, peak, ref_seconds, k, ari, cold):
  ratio = '' if ref_seconds is None else f'{seconds / ref_seconds:6.2f}x'
  ari = '' if ari is None else f'{ari:.4f}'
  cold = '' if cold is None else f'  (first call incl. jit compile {cold:.2f} s)'
  print(f'{method:22s} N={n:7d}  {seconds:8.2f} s  peak +{peak / 2**30:6.2f} '
        f'GiB  time/scipy {ratio:>7s}  K={k:6d}  ARI vs scipy {ari:6s}{cold}',
        flush=True)


def main():
  parser = argparse.ArgumentParser()
  parser.add_argument('--quick', action='store_true')
  args = parser.parse_args()
  from sklearn.metrics import adjusted_rand_score  # pylint: disable=g-import-not-at-top
  exact_sizes = (2_000, 5_000) if args.quick else (5_000, 20_000)
  large = 20_000 if args.quick else 200_000
  print(f'D={D}, eps={EPS:.3f}; peak = max RSS above the baseline after '
        'imports and data generation')
  for n in exact_sizes:
    ref_seconds, ref_labels = None, None
    for method in ('scipy', 'fastcluster', 'ours_exact',
                   'ours_exact_full_tree', 'ours_multiround'):
      seconds, peak, labels, cold = run(method, n)
      k = int(labels[0]) if method == 'ours_exact_full_tree' else int(
          np.unique(labels).size)
      ari = None
      if method == 'scipy':
        ref_seconds, ref_labels = seconds, labels
      elif method != 'ours_exact_full_tree':
        ari = adjusted_rand_score(ref_labels, labels)
      _fmt(method, n, seconds, peak, ref_seconds, k, ari, cold)
  gib = large * (large - 1) / 2 * 8 / 2**30
  print(f'scipy, fastcluster, ours_exact at N={large}: skipped, the condensed '
        f'n^2/2 float64 distance matrix alone is {gib:.0f} GiB '
        f'(this machine: 24 GiB); they need O(n^2) memory.')
  seconds, peak, labels, cold = run('ours_multiround', large)
  _fmt('ours_multiround', large, seconds, peak, None,
       int(np.unique(labels).size), None, cold)


if __name__ == '__main__':
  main()
