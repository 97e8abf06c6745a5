"""Objectives: the losses and their registry, and requirements (one weight per objective on the simplex)."""
