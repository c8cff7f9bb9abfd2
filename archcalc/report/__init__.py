"""Presentation: tables and JSON for every command, sweep reports (rows, ``--where`` filters,
documents) and plots. Formats results; computes nothing."""
