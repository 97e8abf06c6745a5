"""Report: tables and figures on disk, ternary maps, the evaluation stage's sections, the README's blocks."""
