"""Influence of training samples (paper 004): the local influence measure FI
(`fi`; FI-active's factors `fi_active`), the curvature it solves with
(`curvature`: Hessian, Gauss–Newton, K-FAC; Cholesky or CG), the mixed
derivative ∂x∂θL (`mixed`: exact or truncated SVD), the subsampling
approximation (`subsample`), Chhabra et al.'s influence value IV (`iv`) and
the float64 tabular models they score, trained to a stationary point
(`tabular`).
"""
