"""The scheduler state every clock drives, and the one overrun rule."""
