"""Methods: every way to serve a new requirement (PaDiRec and the baselines), in one registry."""
