"""The reading half: a run on disk, its tidy table, plots, reports and comparisons. Imports no torch."""
