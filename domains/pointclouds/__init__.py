"""3D point clouds: readers and writers, procedural shape families, molecular and protein clouds, metrics
(Chamfer, EMD, MMD, COV, 1-NNA), baselines, point-voxel and transformer denoisers, and pictures.

A batch is a flat dict: the field ``points`` [B, N, 3] (float, a Gaussian field) and the context ``node_mask``
[B, N] (bool, True for real points) and optionally ``label`` [B] (long, for class conditioning).
See docs/pointclouds.md.
"""
