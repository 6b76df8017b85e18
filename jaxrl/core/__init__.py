"""The pure core: arrays in, arrays out, jittable; no files, prints, clocks or signals.

Nothing here imports from jaxrl outside `jaxrl.core` (tests/test_layers.py holds the rule).
"""
