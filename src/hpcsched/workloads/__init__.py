"""Readers, writers and generators of workloads (SWF, sacct, synthetic)."""
