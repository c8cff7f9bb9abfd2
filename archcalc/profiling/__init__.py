"""The one way a model gets ready (``prepare``) and the static entry points built on it:
``profile``, ``check_resolution``/``size_range`` and the per-layer table."""
