"""Data: the raw MovieLens files, the prepared dataset and its splits, and dataset statistics."""
