"""Models: the sequential backbones with their adapter, and the diffusion model over adapter parameters."""
