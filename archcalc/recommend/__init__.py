"""Recommend an input size (and backbone) for a task: the task levels, the k x k and pipeline
rules, the pure decision, and ``suggest``, which profiles and times what the decision needs."""
