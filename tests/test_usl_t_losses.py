"""USL-T's losses against a direct numpy transcription of the authors'
`OursLossLocal` / `OursLossGlobal` on hand-made batches (wave2.md 2.2)."""

import jax
import numpy as np
import pytest

from al_jax.features import usl_t_losses as L


def softmax(z):
  e = np.exp(z - z.max(-1, keepdims=True))
  return e / e.sum(-1, keepdims=True)


def ref_local(z_s, z_n, prior, tau, t):
  p = softmax(z_n - tau * np.log(prior))
  target = p ** (1 / t) / (p ** (1 / t)).sum(-1, keepdims=True)
  log_q = np.log(softmax(z_s))
  kl = (target * (np.log(target) - log_q)).sum() / len(z_s)
  new = 0.5 * prior + 0.5 * softmax(z_n).mean(0)  # After the target.
  return kl, new / new.sum()


def ref_global(z_w, z_s, threshold, reweight, mean_outside):
  p = softmax(z_w)
  y, conf = p.argmax(1), p.max(1)
  mask = conf > threshold
  if not mask.any():
    return 0.
  counts = np.bincount(y[mask], minlength=z_w.shape[1]).astype(float)
  w = np.ones(z_w.shape[1])
  present = counts > 0
  if reweight == 'reweight':
    w[present] = mask.sum() / counts[present]
  elif reweight == 'reweight_renorm':
    w[present] = mask.sum() / (present.sum() * counts[present])
  nll = -np.log(softmax(z_s))[np.arange(len(y)), y]
  loss = (w[y] * nll)[mask].sum()
  return loss / (len(y) if mean_outside else w[y][mask].sum())


Z_W = np.array([[5., 0., 0.], [4., 0., 1.], [0., 6., 0.], [0.2, 0.1, 0.],
                [0., 0., 7.]], np.float32)
Z_S = np.array([[1., 0., -1.], [0.5, 0.5, 0.], [0., 2., 0.], [1., 1., 1.],
                [-1., 0., 3.]], np.float32)
Z_N = np.array([[2., 0., 0.], [1., 1., 0.], [0., 1., 2.], [0., 0., 0.],
                [0., 3., 1.]], np.float32)
PRIOR = np.array([0.5, 0.3, 0.2], np.float32)


def test_local_loss_and_prior_update_order():
  kl, new = L.local_loss(Z_S, Z_N, PRIOR, 5.0, 0.25)
  ref_kl, ref_new = ref_local(np.float64(Z_S), np.float64(Z_N),
                              np.float64(PRIOR), 5.0, 0.25)
  np.testing.assert_allclose(kl, ref_kl, rtol=1e-5)
  np.testing.assert_allclose(new, ref_new, rtol=1e-6)
  # The target used the old prior: with the updated one the loss differs.
  assert abs(float(L.local_loss(Z_S, Z_N, new, 5.0, 0.25)[0]) - ref_kl) > 1e-3
  # No gradient reaches the neighbour logits.
  g = jax.grad(lambda zn: L.local_loss(Z_S, zn, PRIOR, 5.0, 0.25)[0])(Z_N)
  assert not np.any(g)


@pytest.mark.parametrize('reweight', L.REWEIGHT)
@pytest.mark.parametrize('mean_outside', [False, True])
@pytest.mark.parametrize('threshold', [0.95, 0.0, 0.9999])
def test_global_loss(reweight, mean_outside, threshold):
  got = L.global_loss(Z_W, Z_S, threshold, reweight, mean_outside)
  ref = ref_global(np.float64(Z_W), np.float64(Z_S), threshold, reweight,
                   mean_outside)
  np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-7)


def test_total_sums_heads_with_the_local_scale():
  heads = lambda z: np.stack([z, z[::-1], 2 * z])
  priors = np.stack([PRIOR, np.full(3, 1 / 3, np.float32), PRIOR[::-1]])
  total, new = L.total_loss(
      heads(Z_W), heads(Z_S), heads(Z_N), priors, adjustment=5.0,
      temperature=0.25, threshold=0.95, reweight='reweight',
      mean_outside_mask=False, local_scale=5.0)
  ref = 0.
  for h in range(3):
    kl, upd = ref_local(np.float64(heads(Z_S)[h]), np.float64(heads(Z_N)[h]),
                        np.float64(priors[h]), 5.0, 0.25)
    ref += 5.0 * kl + ref_global(np.float64(heads(Z_W)[h]),
                                 np.float64(heads(Z_S)[h]), 0.95, 'reweight',
                                 False)
    np.testing.assert_allclose(new[h], upd, rtol=1e-6)
  np.testing.assert_allclose(total, ref, rtol=1e-5)
