"""Comparison: every method over one study, its summaries and tables, and the replicated statistics."""
