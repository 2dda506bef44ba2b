"""scipy and fastcluster: the average-linkage (UPGMA) HAC peers.

Dimensions: N points, D features. Both peers build the N(N-1)/2 float64
condensed distance matrix, so they stop at a few 10^4 points.
"""

import warnings

import numpy as np

LIBRARIES = ('scipy', 'fastcluster')


def average_linkage(x, metric: str = 'euclidean',
                    library: str = 'scipy') -> np.ndarray:
  """The peer's [N - 1, 4] linkage matrix of average-linkage HAC.

  Args:
    x: [N, D] points.
    metric: a scipy.spatial.distance.pdist metric ('sqeuclidean' gives the
      RMS linkage of our multi-round HAC).
    library: 'scipy' or 'fastcluster'.
  """
  from scipy.spatial.distance import pdist  # pylint: disable=g-import-not-at-top
  if library not in LIBRARIES:
    raise ValueError(f'library={library!r}: one of {LIBRARIES}')
  condensed = pdist(np.asarray(x, np.float64), metric)
  if library == 'fastcluster':
    import fastcluster  # pylint: disable=g-import-not-at-top
    return fastcluster.linkage(condensed, 'average')
  from scipy.cluster import hierarchy  # pylint: disable=g-import-not-at-top
  return hierarchy.linkage(condensed, 'average')


def cut(linkage, eps: float) -> np.ndarray:
  """[N] int64 cluster ids 0.. in order of first appearance: the flat
  clusters of `linkage` whose merge height is at most eps."""
  from scipy.cluster import hierarchy  # pylint: disable=g-import-not-at-top
  with warnings.catch_warnings():
    warnings.simplefilter('ignore')
    raw = hierarchy.fcluster(linkage, eps, 'distance')
  _, first, inverse = np.unique(raw, return_index=True, return_inverse=True)
  return np.argsort(np.argsort(first))[inverse].astype(np.int64)


def average_clusters(x, eps: float, metric: str = 'euclidean',
                     library: str = 'scipy') -> np.ndarray:
  """[N] int64: average-linkage HAC of x cut at eps (see cut)."""
  return cut(average_linkage(x, metric, library), eps)
