"""Training of torch heads (and, later, bodies): losses and the training loop."""
