"""Training: the backbone, adapters over its cached states, the sweep over a study's grid, and the generators."""
