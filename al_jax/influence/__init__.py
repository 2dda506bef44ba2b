"""Influence of training samples (paper 004): the local influence measure FI
(`fi`), Chhabra et al.'s influence value IV (`iv`) and the float64 tabular
models they score, trained to a stationary point (`tabular`).
"""
