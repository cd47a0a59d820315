"""Renders of DensePose predictions that other programs consume (conditioning images for diffusion models)."""
