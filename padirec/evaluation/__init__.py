"""Evaluation: ranking and beyond-accuracy metrics, and the evaluation protocols (100 candidates, full ranking)."""
