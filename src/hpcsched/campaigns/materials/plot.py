"""The explored landscape as an SVG file, written directly (no plotting library needed).

matplotlib is not a dependency and a Plotly image export needs a headless browser at every
visualisation task, so the visualisation task writes SVG itself: the predicted enthalpy per atom
of every structure screened so far (one colour per surrogate) and the best candidates circled.
"""

from __future__ import annotations

from html import escape

WIDTH, HEIGHT, MARGIN = 720, 420, 56
COLOURS = {"nn": "#1f77b4", "rf": "#2ca02c", "gnn": "#9467bd"}
MAX_POINTS = 6000  # per method; beyond it every k-th point is drawn


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    step = (high - low) / (count - 1) if high > low else 1.0
    return [low + k * step for k in range(count)]


def landscape_svg(
    points: dict[str, list[tuple[float, float]]],
    best: list[tuple[float, float]],
    number: int | str,
) -> str:
    title = (
        "Explored landscape at the end of the campaign"
        if number == "final"
        else f"Explored landscape after visualisation {number}"
    )
    everything = [p for series in points.values() for p in series] + best
    xs = [p[0] for p in everything] or [0.0, 1.0]
    ys = [p[1] for p in everything] or [0.0, 1.0]
    x0, x1 = min(xs), max(max(xs), min(xs) + 1.0)
    y0, y1 = min(ys), max(max(ys), min(ys) + 1e-6)

    def sx(x: float) -> float:
        return MARGIN + (x - x0) / (x1 - x0) * (WIDTH - 2 * MARGIN)

    def sy(y: float) -> float:
        return HEIGHT - MARGIN - (y - y0) / (y1 - y0) * (HEIGHT - 2 * MARGIN)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{WIDTH / 2}" y="20" text-anchor="middle" font-size="14">{title}</text>',
        f'<line x1="{MARGIN}" y1="{HEIGHT - MARGIN}" x2="{WIDTH - MARGIN}" '
        f'y2="{HEIGHT - MARGIN}" stroke="black"/>',
        f'<line x1="{MARGIN}" y1="{MARGIN}" x2="{MARGIN}" y2="{HEIGHT - MARGIN}" stroke="black"/>',
    ]
    for x in _ticks(x0, x1):
        out.append(
            f'<text x="{sx(x):.1f}" y="{HEIGHT - MARGIN + 16}" text-anchor="middle">{x:.0f}</text>'
        )
    for y in _ticks(y0, y1):
        out.append(f'<text x="{MARGIN - 6}" y="{sy(y) + 4:.1f}" text-anchor="end">{y:.2f}</text>')
    out.append(
        f'<text x="{WIDTH / 2}" y="{HEIGHT - 14}" text-anchor="middle">structure (screening '
        "order)</text>"
    )
    out.append(
        f'<text x="16" y="{HEIGHT / 2}" text-anchor="middle" transform="rotate(-90 16 '
        f'{HEIGHT / 2})">predicted enthalpy (eV/atom)</text>'
    )
    for k, (method, series) in enumerate(points.items()):
        colour = COLOURS.get(method, "#555555")
        stride = max(1, len(series) // MAX_POINTS)
        dots = "".join(
            f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="1.6"/>' for x, y in series[::stride]
        )
        out.append(f'<g fill="{colour}" fill-opacity="0.55">{dots}</g>')
        out.append(
            f'<text x="{WIDTH - MARGIN - 90}" y="{MARGIN + 14 * k}" fill="{colour}">'
            f"{escape(method)} ({len(series)})</text>"
        )
    rings = "".join(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="5"/>' for x, y in best)
    out.append(f'<g fill="none" stroke="#d62728" stroke-width="1.5">{rings}</g>')
    out.append(
        f'<text x="{WIDTH - MARGIN - 90}" y="{MARGIN + 42}" fill="#d62728">'
        f"best ({len(best)})</text>"
    )
    out.append("</svg>")
    return "\n".join(out) + "\n"
