"""Scheduling policies: one parameterised backfilling engine and its presets."""
