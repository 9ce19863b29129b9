"""hpcsched: a scheduling workbench and runtime for dynamic, AI-driven HPC workflows."""

__version__ = "0.1.0"
