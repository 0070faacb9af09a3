"""Pure scaling: KEDA-compatible lag arithmetic and the replica policy (no I/O)."""
