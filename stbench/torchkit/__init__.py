"""Torch utilities shared by model plugins: backbone loading, patch datasets, training helpers.

The harness itself never imports torch at start-up; plugins import from here.
"""
