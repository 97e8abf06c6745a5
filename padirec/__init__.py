"""PaDiRec: parameter diffusion for controllable multi-task recommendation.

One subpackage per step of the method: `data` (MovieLens in the RecBole atomic format), `objectives`
(losses, their registry, requirements), `models` (backbones, the adapter, the diffusion model),
`training` (backbone, adapters, sweep, generators), `methods` (every way to serve a requirement, in one
registry), `evaluation` (metrics and protocols), `comparison` (methods over a study, statistics),
`report` (tables and figures), `pipeline` (config, stages, workers, artifacts), `perf` (benchmarks).
"""
__version__ = "0.1.0"
