"""Dropout, from scratch: the package students complete.

Modules: ``layers`` (forward/backward pairs, dropout among them), ``fc_net``
(FullyConnectedNet), ``optim`` (update rules), ``solver`` (Solver), ``gradient_check``
(numerical gradients and rel_error) and ``data`` (data sets).
"""
