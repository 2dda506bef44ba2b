"""Synthetic data generators: two (or 2m) moons, Gaussian blobs, partial multi-label.

All generators are pure numpy and seeded through `np.random.default_rng(seed)`,
so the same arguments always give the same arrays. They return the full pool of
examples; splitting into train/test is the caller's job (see `sources.load`).
"""

import numpy as np


def make_moons(num_examples: int, noise: float = 0.2, seed: int = 0,
               num_classes: int = 2, spacing: float = 2.0):
  """Interleaving half circles, like `sklearn.datasets.make_moons`.

  Unlike sklearn, the angles are drawn at random instead of on a grid, so two
  seeds give different points even with `noise=0`. With `num_classes` = 2m,
  m pairs of moons are placed side by side, pair j shifted by
  (spacing·j, 0); a pair spans x in [-1, 2], so neighbouring pairs interlock
  for spacing < 3: the four-moons data of paper 002 appendix D.1 is
  `num_classes=4` (configs/moons_boss.py picks spacing and noise).

  Args:
    num_examples: N, total number of points (split evenly between classes).
    noise: standard deviation of the Gaussian noise added to each coordinate.
    seed: seed of the generator.
    num_classes: an even number of moons.
    spacing: horizontal offset between consecutive pairs.

  Returns:
    x: [N, 2] float32 points.
    y: [N] int32 labels in [0, num_classes) (even = upper moon of its pair,
      odd = lower moon).
  """
  if num_classes < 2 or num_classes % 2:
    raise ValueError(f'moons: num_classes={num_classes} must be even, >= 2.')
  rng = np.random.default_rng(seed)
  y = rng.permutation(np.arange(num_examples) % num_classes).astype(np.int32)
  angle = rng.uniform(0.0, np.pi, size=num_examples)
  upper = np.stack([np.cos(angle), np.sin(angle)], axis=1)
  lower = np.stack([1.0 - np.cos(angle), 0.5 - np.sin(angle)], axis=1)
  x = np.where(y[:, None] % 2 == 0, upper, lower)
  x[:, 0] += spacing * (y // 2)
  x += noise * rng.normal(size=x.shape)
  return x.astype(np.float32), y


def make_blobs(num_examples: int,
               num_classes: int = 4,
               num_features: int = 2,
               cluster_std: float = 1.0,
               seed: int = 0):
  """Isotropic Gaussian clusters, one per class, like sklearn's `make_blobs`.

  Args:
    num_examples: N, total number of points; classes are balanced (sizes
      differ by at most one).
    num_classes: C, number of clusters / classes.
    num_features: F, dimension of the points.
    cluster_std: standard deviation of each cluster.
    seed: seed of the generator.

  Returns:
    x: [N, F] float32 points.
    y: [N] int32 labels in [0, C).
  """
  rng = np.random.default_rng(seed)
  # Same center box as sklearn, so cluster overlap is comparable.
  centers = rng.uniform(-10.0, 10.0, size=(num_classes, num_features))
  y = rng.permutation(np.arange(num_examples) % num_classes).astype(np.int32)
  x = centers[y] + cluster_std * rng.normal(size=(num_examples, num_features))
  return x.astype(np.float32), y


def _rank_rows(scores: np.ndarray) -> np.ndarray:
  """[N, C] scores -> [N, C] rank of each entry in its row (0 = largest)."""
  return np.argsort(np.argsort(-scores, axis=1), axis=1)


def make_multilabel(num_examples: int,
                    num_classes: int = 20,
                    num_features: int = 32,
                    annotated_per_example: float = 6,
                    noise: float = 1.0,
                    mean_extra_positives: float = 0.5,
                    seed: int = 0):
  """Partially annotated multi-label data, modelled on Open Images.

  Ground truth: every example "shows" 1 + Poisson(`mean_extra_positives`)
  classes, drawn without replacement from a long-tailed prior (p_c ~ c^-0.8,
  as a few Open Images classes dominate). Its features are the sum of the
  shown classes' random prototypes plus Gaussian noise, so labels are
  learnable from x.

  Annotation: like Open Images image-level labels, only a random subset of
  classes is verified per example, about `annotated_per_example` of them
  (Poisson count, clipped to [1, C]); those get 1 or 0 from the ground
  truth, all other classes are -1. Since few classes are shown per example,
  positives are a small minority of the annotations.

  Args:
    num_examples: N, number of examples.
    num_classes: C, number of classes.
    num_features: F, feature dimension.
    annotated_per_example: mean number of annotated classes per example.
    noise: standard deviation of the feature noise (prototypes have std 1).
    mean_extra_positives: mean number of true classes beyond the first.
    seed: seed of the generator.

  Returns:
    x: [N, F] float32 features.
    y: [N, C] int8 labels in {-1 unannotated, 0 negative, 1 positive}.
  """
  rng = np.random.default_rng(seed)
  prototypes = rng.normal(size=(num_classes, num_features))
  prior = np.arange(1, num_classes + 1, dtype=np.float64) ** -0.8
  prior /= prior.sum()

  # Gumbel top-k: keeping the k largest log(p) + Gumbel scores of a row is a
  # draw of k classes without replacement with probabilities ~ p, vectorized.
  num_true = np.minimum(1 + rng.poisson(mean_extra_positives, num_examples),
                        num_classes)
  gumbel = rng.gumbel(size=(num_examples, num_classes))
  truth = _rank_rows(np.log(prior) + gumbel) < num_true[:, None]

  x = truth.astype(np.float64) @ prototypes
  x += noise * rng.normal(size=x.shape)

  # Uniformly random annotated subset of per-row size ~ Poisson(mean).
  num_annotated = np.clip(rng.poisson(annotated_per_example, num_examples), 1,
                          num_classes)
  annotated = (_rank_rows(rng.random((num_examples, num_classes)))
               < num_annotated[:, None])
  y = np.where(annotated, truth.astype(np.int8), np.int8(-1)).astype(np.int8)
  return x.astype(np.float32), y


def stamped_images(n: int, edge: int, seed: int = 0):
  """n distinct [edge, edge, 3] uint8 images, one at a time (for pools
  written to disk): one of 10 random patterns (row i has pattern i % 10)
  with the row number stamped into its corner."""
  rng = np.random.default_rng(seed)
  base = rng.integers(0, 256, (10, edge, edge, 3), np.uint8)
  for i in range(n):
    image = base[i % 10].copy()
    image[:8, :8] = (i % 256, i // 256 % 256, i // 65536)
    yield image
