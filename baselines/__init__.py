"""Baseline predictors: one sub-package per model, each registered as a stbench plugin."""
