"""Domain adaptation: use an unlabeled pool from the domain the model will be used on.

Every strategy that can adapt receives that pool as the fit parameter
`target_unlabeled` (routed by `strategies.base.accepted_fit_params`, so cross-validation
hands it to every fold and the refit). The frozen-embedding strategies align their
training embeddings to it with CORAL (`coral`); the strategies that train the body add
DANN's domain-confusion loss to the training loop (`dann`). Nothing from the pool is
saved: the fitted model predicts target items as usual.
"""
