"""Shared code of the NTechLab DFDC solution: config, video I/O, tracking, alignment, data, training, inference."""
