"""Helpers shared by the tests: toy models and images (``toymodels``), the experiment runner's
synthetic rows and test method (``experiment``), the CAM references (``cam_refs``). The slow
one-image-at-a-time references that benchmarks also use live in :mod:`igos.testing`."""
