"""The influence measure FI and IV (paper 004): closed forms against finite
differences of re-fitted models, the binary closed form, Theorem 1 where it
holds, and Chhabra et al.'s IV against a direct transcription."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from al_jax.influence import curvature
from al_jax.influence import fi
from al_jax.influence import iv
from al_jax.influence import mixed
from al_jax.influence import tabular

WD = 1e-2


def _data(n=60, d=3, seed=0):
  rng = np.random.default_rng(seed)
  x = rng.normal(size=(n, d))
  y = (x[:, 0] - x[:, -1] + 0.7 * rng.normal(size=n) > 0).astype(np.int64)
  return x, y


@pytest.fixture(scope='module')
def fitted():
  x, y = _data()
  model = tabular.logistic_regression(x.shape[1])
  theta, norm = tabular.fit(model, x, y, WD, jax.random.key(0))
  return model, x, y, theta, norm, curvature.curvature(model, theta, x, y, WD)


def _refit(model, x, y):
  return tabular.fit(model, x, y, WD, jax.random.key(0))[0]


def test_fit_reaches_a_stationary_point(fitted):
  *_, norm, curv = fitted
  assert norm < 1e-12
  assert curv.damping == 0 and 'weight decay 0.01' in curv.note


def test_parameter_jacobian_matches_refitted_central_differences(fitted):
  model, x, y, theta, _, curv = fitted
  i, eps = 5, 1e-4
  jac = fi.parameter_jacobian(model, theta, x[i], y[i], curv)
  fd = np.zeros_like(jac)
  for k in range(x.shape[1]):
    up, down = x.copy(), x.copy()
    up[i, k] += eps
    down[i, k] -= eps
    fd[:, k] = (_refit(model, up, y) - _refit(model, down, y)) / (2 * eps)
  np.testing.assert_allclose(jac, fd, atol=1e-8 * np.abs(jac).max() + 1e-12,
                             rtol=1e-6)
  # Algorithms 1-2's scale drops the -1/n of appendix A.
  alg = fi.parameter_jacobian(model, theta, x[i], y[i], curv, 'algorithm')
  np.testing.assert_allclose(alg, -len(x) * jac, rtol=1e-10)


def test_metric_tensor_matches_finite_differences_and_has_rank_one(fitted):
  model, x, y, theta, _, curv = fitted
  i, eps = 7, 1e-4
  g_mat = fi.metric_tensor(model, theta, x[i], y[i], curv)

  def log_p(omega):
    moved = x.copy()
    moved[i] += omega
    t = _refit(model, moved, y)
    with jax.enable_x64(True):
      return np.asarray(jax.nn.log_softmax(model.logits(jnp.asarray(t),
                                                        jnp.asarray(moved[i]))))

  d = x.shape[1]
  grads = np.stack([(log_p(eps * e) - log_p(-eps * e)) / (2 * eps)
                    for e in np.eye(d)], 1)                     # [K, d]
  with jax.enable_x64(True):
    prob = np.asarray(jax.nn.softmax(model.logits(jnp.asarray(theta),
                                                  jnp.asarray(x[i]))))
  want = sum(prob[c] * np.outer(grads[c], grads[c]) for c in range(2))
  np.testing.assert_allclose(g_mat, want, atol=1e-7 * np.abs(want).max())
  assert np.linalg.matrix_rank(g_mat, tol=1e-9 * np.abs(g_mat).max()) == 1


def test_binary_closed_form_equals_the_generic_path(fitted):
  model, x, y, theta, _, curv = fitted
  v = fi.validation_gradient(model, theta, x[:20], y[:20])
  d = x.shape[1]
  got = fi.fi_util(model, theta, x, y, x[:20], y[:20], curv)
  for i in (0, 3, 11):
    jac = fi.parameter_jacobian(model, theta, x[i], y[i], curv)
    p = 1 / (1 + np.exp(-(theta[:d] @ x[i] + theta[d])))
    u = jac[:d].T @ x[i] + jac[d] + theta[:d]   # dz/dω, both paths.
    g = v @ jac
    closed = (g @ u) ** 2 / (p * (1 - p) * (u @ u) ** 2)
    assert got[i] == pytest.approx(closed, rel=1e-9)
    assert fi.fi(model, theta, x[i], y[i], v, curv) == pytest.approx(
        closed, rel=1e-9)
  assert (got >= 0).all()


def _scaled_fi(x, y, scale, i=4):
  """FI of row i when the inputs are given as x / scale and the model
  multiplies them back (a reparametrised perturbation ω = scale · ω̃)."""
  base = tabular.logistic_regression(x.shape[1])
  model = tabular.Tabular(base.init, lambda t, xx: base.logits(t, xx * scale),
                          lambda t, xx: xx, convex=True)
  xs = x / scale
  theta = tabular.fit(model, xs, y, WD, jax.random.key(0))[0]
  curv = curvature.curvature(model, theta, xs, y, WD)
  v = fi.validation_gradient(model, theta, xs[:20], y[:20])
  return fi.fi(model, theta, xs[i], y[i], v, curv)


def test_theorem1_invariance_holds_where_g_is_full_rank():
  x, y = _data(d=1)  # d = 1, K = 2: G is 1 x 1 and full rank.
  a = _scaled_fi(x, y, np.ones(1))
  b = _scaled_fi(x, y, np.array([7.]))
  assert a > 0 and b == pytest.approx(a, rel=1e-7)


def test_theorem1_fails_with_a_pseudo_inverse_when_g_is_rank_deficient():
  # d = 3, K = 2: rank G = 1 < d, and a non-uniform rescaling changes FI
  # (wave2.md 3.9 pitfall 3): the invariance must not be claimed here.
  x, y = _data(d=3)
  a = _scaled_fi(x, y, np.ones(3))
  b = _scaled_fi(x, y, np.array([1., 5., 0.3]))
  assert abs(b - a) > 0.05 * a


def _iv_transcription(x, y, xv, yv, l2, theta):
  """Chhabra et al.'s model.py formulas, written out with loops."""
  p = 1 / (1 + np.exp(-x @ theta))
  h = l2 * np.eye(x.shape[1])
  for xi, pi in zip(x, p):
    h += pi * (1 - pi) * np.outer(xi, xi)
  gv = np.zeros(x.shape[1])
  for xj, yj in zip(xv, yv):
    gv += (1 / (1 + np.exp(-xj @ theta)) - yj) * xj
  hinv_g = np.linalg.solve(h, gv)
  return np.array([(pi - yi) * xi @ hinv_g for xi, yi, pi in zip(x, y, p)])


def test_iv_matches_a_direct_transcription():
  x, y = _data(n=80, d=4, seed=1)
  xv, yv = _data(n=30, d=4, seed=2)
  got = iv.influence_values(x, y, xv, yv, 2.2622)
  theta = iv.surrogate(x, y, 2.2622)
  np.testing.assert_allclose(
      got, _iv_transcription(x, y, xv, yv, 2.2622, theta), rtol=1e-9,
      atol=1e-12)
  assert iv.trim_order(got)[0] == np.argmin(got)


def test_iv_trims_one_class_on_the_papers_1d_example():
  # 1-D, x > 0, no intercept: IV_i = const · (p_i − y_i) x_i, so the
  # negative-IV rows are exactly one class (paper 004 section 1).
  rng = np.random.default_rng(3)
  x = rng.uniform(0.1, 3., size=(60, 1))
  y = (rng.uniform(size=60) < 0.6).astype(np.int64)
  xv = rng.uniform(0.1, 3., size=(30, 1))
  yv = (rng.uniform(size=30) < 0.3).astype(np.int64)
  values = iv.influence_values(x, y, xv, yv, 0.01)
  negative = values < 0
  assert negative.any() and len(np.unique(y[negative])) == 1


def test_one_class_validation_set_is_named(fitted):
  model, x, y, theta, *_ = fitted
  with pytest.raises(ValueError, match='validation set has one class'):
    fi.validation_gradient(model, theta, x[:5], np.ones(5, np.int64))


def test_singular_hessian_is_damped_and_reported():
  # Separable data without weight decay: the Hessian vanishes along θ.
  x = np.array([[-2.], [-1.], [1.], [2.]])
  y = np.array([0, 0, 1, 1])
  model = tabular.logistic_regression(1)
  theta = np.array([40., 0.])
  curv = curvature.curvature(model, theta, x, y, 0.)
  assert curv.damping > 0 and 'damping' in curv.note


def test_nan_features_are_named():
  x, y = _data()
  x[3, 1] = np.nan
  with pytest.raises(ValueError, match='NaN or inf'):
    tabular.fit(tabular.logistic_regression(3), x, y, WD, jax.random.key(0))


@pytest.mark.parametrize('name', ['fi_util', 'iv'])
def test_select_trims_with_every_influence_method(fitted, name):
  import al_jax  # pylint: disable=g-import-not-at-top
  model, x, y, theta, *_ = fitted
  run = lambda: al_jax.select(
      name, 5, key=jax.random.key(0), labels=y,
      apply_fn=tabular.apply_function(model), params={'params': theta},
      inputs=x, weight_decay=WD, validation=(x[:20], y[:20]))
  sel = run()
  assert len(np.unique(sel.indices)) == 5
  np.testing.assert_array_equal(sel.indices, run().indices)
  with pytest.raises(ValueError, match='validation'):
    al_jax.select(name, 5, key=jax.random.key(0), labels=y,
                  apply_fn=tabular.apply_function(model),
                  params={'params': theta}, inputs=x)


def test_gauss_newton_is_the_hessian_for_logistic_regression_only(fitted):
  model, x, y, theta, *_ = fitted
  np.testing.assert_allclose(
      curvature.matrix(model, theta, x, y, WD, 'gauss_newton'),
      curvature.matrix(model, theta, x, y, WD), rtol=1e-10, atol=1e-14)
  mlp = tabular.mlp(3, (4,), 2)
  theta_mlp, _ = tabular.fit(mlp, x, y, WD, jax.random.key(1), max_iter=300)
  gn = curvature.matrix(mlp, theta_mlp, x, y, WD, 'gauss_newton')
  h = curvature.matrix(mlp, theta_mlp, x, y, WD)
  assert np.linalg.eigvalsh(gn)[0] >= WD * (1 - 1e-9)   # PSD + wd·I.
  assert np.abs(gn - h).max() > 1e-3 * np.abs(h).max()


@pytest.mark.parametrize('kind', ['hessian', 'gauss_newton'])
def test_conjugate_gradients_match_the_cholesky_solve(fitted, kind):
  model, x, y, theta, *_ = fitted
  if kind == 'gauss_newton':  # A network, where the two kinds differ.
    model = tabular.mlp(3, (4,), 2)
    theta, _ = tabular.fit(model, x, y, WD, jax.random.key(1), max_iter=300)
  scores = [fi.fi_util(model, theta, x, y, x[:20], y[:20],
                       curvature.curvature(model, theta, x, y, WD, kind=kind,
                                           solver_name=solver))
            for solver in ('cholesky', 'cg')]
  np.testing.assert_allclose(scores[1], scores[0], rtol=1e-6,
                             atol=1e-9 * scores[0].max())


def test_cg_refuses_a_curvature_that_may_be_indefinite(fitted):
  model, x, y, theta, *_ = fitted
  mlp = tabular.mlp(3, (4,), 2)
  with pytest.raises(ValueError, match='positive-definite'):
    curvature.curvature(mlp, np.zeros(21), x, y, WD, solver_name='cg')
  with pytest.raises(ValueError, match='positive-definite'):
    curvature.curvature(model, theta, x, y, 0., kind='gauss_newton',
                        solver_name='cg')


def test_fi_util_subsampled_ranks_every_row_by_a_forest(fitted):
  import al_jax  # pylint: disable=g-import-not-at-top
  model, x, y, theta, *_ = fitted
  run = lambda k: al_jax.select(
      'fi_util', 5, key=jax.random.key(k), labels=y,
      apply_fn=tabular.apply_function(model), params={'params': theta},
      inputs=x, weight_decay=WD, validation=(x[:20], y[:20]), subsample=0.5)
  sel = run(0)
  np.testing.assert_array_equal(sel.indices, run(0).indices)
  assert len(np.unique(sel.indices)) == 5 and 'Bernoulli(0.5)' in sel.notes[0]


@pytest.mark.parametrize('model', [tabular.logistic_regression(3),
                                   tabular.linear(3, 4)])
def test_kfac_is_the_gauss_newton_matrix_for_one_example(model):
  rng = np.random.default_rng(2)
  x = rng.normal(size=(40, 3))
  theta = rng.normal(size=4 if model.outputs == 1 else 16)  # p = (3 + 1)·o
  y = np.zeros(40, np.int64)
  one = [curvature.matrix(model, theta, x[:1], y[:1], WD, kind)
         for kind in ('kfac', 'gauss_newton')]
  np.testing.assert_allclose(one[0], one[1], rtol=1e-10, atol=1e-14)
  many = [curvature.matrix(model, theta, x, y, 0., kind)
          for kind in ('kfac', 'gauss_newton')]
  error = np.linalg.norm(many[0] - many[1]) / np.linalg.norm(many[1])
  print(f'K-FAC relative error over 40 examples: {error:.3f}')
  assert 0 < error < 1
  # The Kronecker eigen-solve is exact for its own matrix.
  curv = curvature.curvature(model, theta, x, y, WD, kind='kfac')
  b = rng.normal(size=len(theta))
  with jax.enable_x64(True):
    got = curvature.solver(model, curv.static, theta, curv.operands)(b)
  np.testing.assert_allclose(
      np.asarray(got), np.linalg.solve(many[0] + WD * np.eye(len(b)), b),
      rtol=1e-8)


def test_truncated_svd_matches_numpy_on_a_non_degenerate_matrix():
  rng = np.random.default_rng(4)
  q1, _ = np.linalg.qr(rng.normal(size=(12, 6)))
  q2, _ = np.linalg.qr(rng.normal(size=(6, 6)))
  a = q1 @ np.diag([9., 5., 3., 1.5, 0.7, 0.2]) @ q2.T
  with jax.enable_x64(True):
    u, sv, v = (np.asarray(t) for t in mixed.truncated_svd(
        lambda x: jax.numpy.asarray(a) @ x, lambda y: y @ a, 6, 3, 30))
  ref_u, ref_sv, ref_vt = np.linalg.svd(a)
  np.testing.assert_allclose(sv, ref_sv[:3], rtol=1e-8)
  np.testing.assert_allclose(u @ np.diag(sv) @ v.T,
                             ref_u[:, :3] @ np.diag(ref_sv[:3]) @ ref_vt[:3],
                             atol=1e-8)


def test_full_rank_svd_is_exact_and_a_cut_through_equal_values_warns(fitted):
  model, x, y, theta, _, curv = fitted
  exact = fi.fi_util(model, theta, x, y, x[:20], y[:20], curv)
  full = fi.fi_util(model, theta, x, y, x[:20], y[:20], curv, svd_rank=3)
  np.testing.assert_allclose(full, exact, rtol=1e-6, atol=1e-12)
  # Binary LR: d − 2 of C's singular values equal |p − y|.
  x5, y5 = _data(d=5)
  model5 = tabular.logistic_regression(5)
  theta5 = _refit(model5, x5, y5)
  with jax.enable_x64(True):
    c = np.asarray(jax.jacfwd(lambda xx: mixed.grad_theta(
        model5, jax.numpy.asarray(theta5), xx, int(y5[0])))(
            jax.numpy.asarray(x5[0])))
  sv = np.linalg.svd(c, compute_uv=False)
  k = int(np.flatnonzero(np.isclose(sv[:-1], sv[1:], rtol=1e-9))[0]) + 1
  with pytest.warns(UserWarning, match='equal singular values'):
    fi.fi_util(model5, theta5, x5, y5, x5[:20], y5[:20], curvature.curvature(
        model5, theta5, x5, y5, WD), svd_rank=k)
