"""USL-T's training objective (paper 003, training-based variant), as the
authors' `usl-t_pretraining/` code computes it (wave2.md 2.2).

Per cluster head h, with logits z_w (the un-augmented view, no gradient),
z_s (the strong view) and z_n (a neighbour, drawn from the point's kNN list
that includes the point itself; no gradient):

  local  (`OursLossLocal`): target t = sharpen(softmax(z_n − τ·log q_h), T),
         stop-gradient; L = KL(t ‖ softmax(z_s)), summed over clusters and
         averaged over the batch ("batchmean"); *then* the head's prior
         q_h ← normalise(0.5·q_h + 0.5·mean softmax(z_n)) from the
         un-adjusted neighbour probabilities (momentum 0.5, hard-coded);
  global (`OursLossGlobal`): ŷ = argmax softmax(z_w), kept where its
         probability exceeds the threshold; class weights n_m / count_c
         ('reweight') or n_m / (#present · count_c) ('reweight_renorm') over
         the kept ŷ (1 for absent classes), or none; the weighted cross
         entropy of softmax(z_s) at ŷ, divided by Σ w_ŷ over the kept rows
         (`MEAN_OUTSIDE_MASK` False, CIFAR-10) or by the batch size (True,
         CIFAR-100 and ImageNet); 0 when nothing is kept.

Total = Σ_h global_h + local_scale · Σ_h local_h (`total_loss`).

Dimensions: B batch, M clusters (a head's outputs).
"""

import jax
import jax.numpy as jnp

REWEIGHT = (None, 'reweight', 'reweight_renorm')
PRIOR_MOMENTUM = 0.5  # Hard-coded in the authors' code.


def sharpen(p: jax.Array, temperature: float) -> jax.Array:
  """p_c^{1/T} / Σ_c' p_c'^{1/T} over the last axis, in log space."""
  return jax.nn.softmax(jnp.log(jnp.maximum(p, 1e-30)) / temperature, -1)


def local_loss(z_s, z_n, prior, adjustment: float, temperature: float):
  """(loss, new prior) of one head.

  Args:
    z_s: [B, M] logits of the strong view (the anchor; gradients flow).
    z_n: [B, M] logits of the neighbours (no gradient).
    prior: [M] the head's running class prior q_h (starts at 1/M).
    adjustment: τ (`ADJUSTMENT_WEIGHT`).
    temperature: T of the sharpening.

  Returns:
    (scalar KL "batchmean", [M] the prior updated after the target).
  """
  z_n = jax.lax.stop_gradient(z_n)
  target = jax.lax.stop_gradient(sharpen(
      jax.nn.softmax(z_n - adjustment * jnp.log(prior), -1), temperature))
  log_q = jax.nn.log_softmax(z_s, -1)
  kl = jnp.sum(jnp.where(target > 0, target * (jnp.log(
      jnp.where(target > 0, target, 1.)) - log_q), 0.)) / z_s.shape[0]
  new = (PRIOR_MOMENTUM * prior +
         (1 - PRIOR_MOMENTUM) * jnp.mean(jax.nn.softmax(z_n, -1), 0))
  return kl, new / jnp.sum(new)


def global_loss(z_w, z_s, threshold: float, reweight: str | None,
                mean_outside_mask: bool) -> jax.Array:
  """Confidence-thresholded self-labelling of one head (scalar).

  Args:
    z_w: [B, M] logits of the un-augmented view (no gradient).
    z_s: [B, M] logits of the strong view.
    threshold: keep rows whose top probability exceeds it (strictly).
    reweight: one of `REWEIGHT`.
    mean_outside_mask: divide by B instead of the kept rows' weights.
  """
  if reweight not in REWEIGHT:
    raise ValueError(f'reweight={reweight!r}; valid: {REWEIGHT}.')
  p_w = jax.nn.softmax(jax.lax.stop_gradient(z_w), -1)
  y_hat = jnp.argmax(p_w, -1)
  mask = jnp.max(p_w, -1) > threshold
  kept = jnp.sum(mask)
  counts = jnp.zeros(z_w.shape[-1]).at[y_hat].add(mask.astype(jnp.float32))
  present = counts > 0
  if reweight is None:
    w = jnp.ones_like(counts)
  else:
    scale = kept if reweight == 'reweight' else kept / jnp.sum(present)
    w = jnp.where(present, scale / jnp.where(present, counts, 1.), 1.)
  w_i = jnp.where(mask, w[y_hat], 0.)
  nll = -jnp.take_along_axis(jax.nn.log_softmax(z_s, -1), y_hat[:, None],
                             1)[:, 0]
  total = jnp.sum(w_i * nll)
  denom = z_s.shape[0] if mean_outside_mask else jnp.sum(w_i)
  return jnp.where(kept > 0, total / jnp.maximum(denom, 1e-12), 0.)


def total_loss(heads_w, heads_s, heads_n, priors, *, adjustment, temperature,
               threshold, reweight, mean_outside_mask, local_scale):
  """(Σ_h global_h + local_scale · Σ_h local_h, new priors [H, M]).

  Args:
    heads_w, heads_s, heads_n: [H, B, M] logits of every head.
    priors: [H, M].
  """
  local, new = jax.vmap(local_loss, in_axes=(0, 0, 0, None, None))(
      heads_s, heads_n, priors, adjustment, temperature)
  glob = jax.vmap(global_loss, in_axes=(0, 0, None, None, None))(
      heads_w, heads_s, threshold, reweight, mean_outside_mask)
  return jnp.sum(glob) + local_scale * jnp.sum(local), new
