"""The diffusion model: noise schedule, denoiser, one scheduler per sampler, and the model that joins them."""
