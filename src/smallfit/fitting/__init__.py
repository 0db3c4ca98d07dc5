"""Fitting: compare candidate strategies by cross-validation or search them, combine the
compared or keep the best, refit, and estimate that whole procedure honestly."""
