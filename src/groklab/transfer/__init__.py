"""Transfer from another run's checkpoint: new operation, new modulus, frozen and re-initialized
parameters (docs/transfer.md)."""
