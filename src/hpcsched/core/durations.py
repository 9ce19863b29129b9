"""A duration as people read it (45 s, 12 min, 3.1 h, 2.4 d), for every message and table.

It sits in ``core`` because every layer words durations the same way: ``advise`` in its refusals,
``analytics`` in insights and charts, the CLI in its tables.
"""

from __future__ import annotations


def duration_text(seconds: float) -> str:
    """``seconds`` in the largest unit that keeps it readable: 45 s, 12 min, 3.1 h, 2.4 d
    (a negative duration keeps its sign: -5 min)."""
    s = abs(seconds)
    if s < 120:
        text = f"{s:.0f} s"
    elif s < 7200:
        text = f"{s / 60:.0f} min"
    elif s < 172800:
        text = f"{s / 3600:.1f} h"
    else:
        text = f"{s / 86400:.1f} d"
    return f"-{text}" if seconds < 0 else text


def hours_minutes(seconds: float) -> str:
    """An error or a wait as two whole units, the way people say it: 45 s, 38 min, 1 h 12 min,
    1 d 2 h (``predict eval`` tables, where 1.2 h would make readers convert)."""
    s = round(abs(seconds))
    if s < 60:
        text = f"{s} s"
    elif s < 3600:
        text = f"{round(s / 60)} min"
    elif s < 86400:
        minutes = round(s / 60)
        text = f"{minutes // 60} h {minutes % 60} min"
    else:
        hours = round(s / 3600)
        text = f"{hours // 24} d {hours % 24} h"
    return f"-{text}" if seconds < 0 else text
