"""PaDiRec: parameter diffusion for controllable multi-task recommendation.

Modules: `config` (validated params.yaml), `data` (MovieLens in the RecBole atomic format),
`models` (SASRec, GRU4Rec and the adapter), `losses`, `metrics`, `report` (tables and figures).
"""
__version__ = "0.1.0"
