"""Sweeps: wandb-format sweep files (spec), run locally with shared stages (runner), tabled and plotted (report)."""
