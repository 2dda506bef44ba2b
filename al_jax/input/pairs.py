"""Multi-label pools of image-class pairs (paper 000, section 3.2).

In multi-label mode the unit of labeling is an annotated (image, class) pair
with a binary label: the pool is every candidate pair (y >= 0, or -2 when
people will give its label, in the {-1 not a pair, 0 negative, 1 positive}
convention of `input.sources`), and a query buys one pair's label. Models still see images: Margin scores each
pair by its binary margin (`strategies/margin.py`), BADGE by its 2-block
gradient (`scores/gradients.py`), and every other strategy picks k images,
then k pairs uniformly among those images' unlabeled pairs
(`strategies.combinators.on_pairs` with `sample_pairs`).

Dimensions: N images, C classes, P annotated pairs, K budget, D embedding.
"""

from typing import NamedTuple

import jax
import numpy as np

from al_jax.input import sparse_labels


class PairPool(NamedTuple):
  """The annotated pairs, in row-major (image, class) order.

  Attributes:
    image: [P] int64 image of each pair.
    cls: [P] int64 class of each pair.
    num_images: N.
  """
  image: np.ndarray
  cls: np.ndarray
  num_images: int

  @classmethod
  def from_labels(cls, y) -> 'PairPool':
    """y: [N, C] int labels in {-2, -1, 0, 1}, dense or `SparseLabels`;
    pairs are the entries other than -1 (-2: a pair whose label people will
    give)."""
    y = sparse_labels.as_sparse(y)
    return cls(y.image, y.cls.astype(np.int64), len(y))

  def __len__(self) -> int:
    return len(self.image)

  def labels(self, y) -> np.ndarray:
    """[N, C] labels (dense or `SparseLabels`) -> [P] the pairs' labels."""
    if isinstance(y, sparse_labels.SparseLabels):
      return y.at(self.image, self.cls)
    return y[self.image, self.cls]

  def images_with(self, pair_mask: np.ndarray) -> np.ndarray:
    """[P] bool -> [N] bool: images owning at least one pair of the mask."""
    out = np.zeros(self.num_images, bool)
    out[self.image[pair_mask]] = True
    return out

  def image_min(self, pair_scores: np.ndarray,
                pair_mask: np.ndarray) -> np.ndarray:
    """[N] smallest score among each image's masked pairs, +inf if none."""
    out = np.full(self.num_images, np.inf, np.float64)
    np.minimum.at(out, self.image[pair_mask], pair_scores[pair_mask])
    return out


def sample_pairs(pairs: PairPool, labeled_mask: np.ndarray,
                 images: np.ndarray, k: int, key: jax.Array) -> np.ndarray:
  """k unlabeled pairs drawn uniformly among the pairs of `images`.

  Section 3.2's second step ("given all the potential classes with labels
  available in this set of k images ... we sample k image-class pairs
  uniformly at random"). If the images hold fewer than k unlabeled pairs (only
  possible when fewer than k images were open), the remainder is drawn
  uniformly from the other unlabeled pairs, so the budget is always spent.

  Args:
    pairs: the pair pool.
    labeled_mask: [P] bool, pairs already bought.
    images: [M] int image ids.
    k: budget, at most the number of unlabeled pairs.
    key: PRNG key.

  Returns:
    [k] int64 distinct unlabeled pair indices.
  """
  chosen = np.zeros(pairs.num_images, bool)
  chosen[np.asarray(images, np.int64)] = True
  inside = ~labeled_mask & chosen[pairs.image]
  first = np.flatnonzero(inside)
  rest = np.flatnonzero(~labeled_mask & ~inside)
  if k > len(first) + len(rest):
    raise ValueError(f'k={k} exceeds the {len(first) + len(rest)} unlabeled '
                     'pairs.')
  k_in, k_rest = jax.random.split(key)
  take = min(k, len(first))
  return np.concatenate([_choose(k_in, first, take),
                         _choose(k_rest, rest, k - take)]).astype(np.int64)


def _choose(key: jax.Array, items: np.ndarray, k: int) -> np.ndarray:
  """k of `items` uniformly without replacement."""
  if k == 0:
    return items[:0]
  return items[np.asarray(jax.random.choice(key, len(items), (k,),
                                            replace=False))]
