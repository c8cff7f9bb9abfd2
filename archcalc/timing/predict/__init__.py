"""Predicted latency and throughput on a device archcalc does not run on.

features (per-op costs of a trace, stored compactly) -> model (a device's constants turn
them into time) -> fit (constants from measured tables) -> targets (shipped and saved device
profiles) -> tables (reading timm benchmark / archcalc bench CSVs, writing predictions).
"""
