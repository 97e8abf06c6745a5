"""Performance: the benchmark of generation and tuning, and the cost model for larger data."""
