"""What the real Bot API enforces, reproduced: the spec's parameters, error bodies, flood limits, injected faults."""
