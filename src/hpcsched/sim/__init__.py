"""The virtual-time engine and scheduling metrics."""
