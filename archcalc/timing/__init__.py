"""Latency measured on CPU or CUDA: the statistics (no torch), the settings a measurement runs
under (restored after), ``measure`` and ``bench``."""
