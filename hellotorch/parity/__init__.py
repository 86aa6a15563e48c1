"""Loss parity: does the compiled step learn what the eager step learns? Tolerances, the check, model state, the matrix, distributed parity."""
