"""Consumers of DensePose output, torch-free: texture atlases (extract, fill, paint) and pixel -> SMPL
surface correspondences. Conventions are in docs/texture_and_smpl.md."""
