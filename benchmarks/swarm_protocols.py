"""SWARM vs PBFT job selection: live on the real broker at n = 3, 5, 10, the simulated network at
the same n (sim/live ratios), the simulated scaling to 100 and 1,000 agents, and a chart.

    python benchmarks/swarm_protocols.py [--jobs 1000] [--url URL] [--kill-at 5] [--out DIR]
                                         [--scale-jobs 20] [--big-jobs 2] [--no-live]

The broker is --url, else $HPCSCHED_BUS_URL. Every run uses the same job pool (seeded; Poisson
arrivals every 20 ms on average, 1-4 cores, 0.05-0.5 s) and the sites of ``site_capacities``.
The fault run SIGKILLs agent 0 of a SWARM and of a PBFT run at n = 5 after --kill-at s; the
survivors select its unfinished jobs again ("reselected").
The simulated network is calibrated once: --latency-ms (one way) and --service-us (agent time per
message); they are printed with the ratios. Scaling: --scale-jobs jobs at n = 20, 50, 100 and
--big-jobs at n = 1,000 (each job there costs ~2n^2 = 2 million messages in Python).
The chart (messages per job and mean selection latency against n, log axes) is written as HTML
and, when kaleido finds a browser, PNG.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from hpcsched.swarm.check import RunRecord, check, measures
from hpcsched.swarm.live import run_live
from hpcsched.swarm.messages import make_jobs, site_capacities
from hpcsched.swarm.netsim import NetModel, simulate

PROTOCOLS = ("pbft", "swarm")
COLORS = {"pbft": "#d62728", "swarm": "#1f77b4"}


def row(label: str, record: RunRecord) -> dict[str, Any]:
    m = measures(record)
    v = check(record)
    out = {"run": label, **m, "lost": len(v["lost"]), "twice": len(v["twice"]),
           "stranded": len(v["stranded"]), "reselected": v["reselected"]}  # fmt: skip
    print(
        f"{label:<6} {m['protocol']:<5} n={m['agents']:<5} jobs={m['jobs']:<5} "
        f"msgs/job={m['messages_per_job']:10.1f} formula={m['formula_per_job']:10.1f} "
        f"p={m['proposers_per_job']:5.2f} lat={m['latency_mean_ms']:7.1f} ms "
        f"p95={m['latency_p95_ms']:7.1f} ms idle={m['idle_mean_s']:5.2f} s/{m['span_s']:.1f} s "
        f"lost={out['lost']} twice={out['twice']} stranded={out['stranded']} "
        f"reselected={out['reselected']} hb/job={m['heartbeats_per_job']:.1f} "
        f"wall={m['wall_s']:.1f} s",
        flush=True,
    )
    return out


def chart(rows: list[dict[str, Any]], folder: Path) -> None:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("messages per job", "mean latency, ms"))
    runs = {"live": ("live",), "sim": ("sim", "scale")}
    for run in ("live", "sim"):
        for protocol in PROTOCOLS:
            mine = [r for r in rows if r["run"] in runs[run] and r["protocol"] == protocol]
            pts = sorted(((r["agents"], r) for r in mine), key=lambda p: p[0])
            if not pts:
                continue
            xs = [n for n, _ in pts]
            line = {"dash": "solid" if run == "sim" else "dot", "color": COLORS[protocol]}
            name = f"{protocol} ({run})"
            fig.add_trace(go.Scatter(x=xs, y=[r["messages_per_job"] for _, r in pts], name=name,
                                     line=line, mode="lines+markers"), 1, 1)  # fmt: skip
            fig.add_trace(go.Scatter(x=xs, y=[r["latency_mean_ms"] for _, r in pts], name=name,
                                     line=line, mode="lines+markers",
                                     showlegend=False), 1, 2)  # fmt: skip
    fig.update_xaxes(type="log", title="agents")
    fig.update_yaxes(type="log")
    fig.update_layout(title="SWARM vs PBFT job selection (live: dotted; simulated: solid)")
    folder.mkdir(parents=True, exist_ok=True)
    fig.write_html(folder / "swarm_protocols.html", include_plotlyjs="cdn")
    try:
        fig.write_image(folder / "swarm_protocols.png", width=1100, height=480)
    except Exception as exc:  # kaleido without a browser: the HTML is the chart
        print(f"no PNG ({str(exc).splitlines()[0]})", file=sys.stderr)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=1000)
    ap.add_argument("--url", default=os.environ.get("HPCSCHED_BUS_URL"))
    ap.add_argument("--kill-at", type=float, default=5.0)
    ap.add_argument("--latency-ms", type=float, default=0.5)
    ap.add_argument("--service-us", type=float, default=0.0)
    ap.add_argument("--scale-jobs", type=int, default=20)
    ap.add_argument("--big-jobs", type=int, default=2)
    ap.add_argument("--sizes", default="3,5,10")
    ap.add_argument("--no-live", action="store_true")
    ap.add_argument("--out", type=Path, default=Path("swarm-bench"))
    ap.add_argument("--chart-from", type=Path, help="only redraw the chart of a saved JSON")
    args = ap.parse_args()
    if args.chart_from:
        chart([r for r in json.loads(args.chart_from.read_text()) if r["run"] != "fault"], args.out)
        return
    sizes = [int(x) for x in args.sizes.split(",")]
    net = NetModel(latency=args.latency_ms / 1e3, service=args.service_us / 1e6)
    jobs = make_jobs(args.jobs, seed=1)
    rows: list[dict[str, Any]] = []
    print(f"jobs: {len(jobs)}, last arrival {jobs[-1].arrival:.1f} s; sim: {net}")
    for n in sizes:
        for protocol in PROTOCOLS:
            caps = site_capacities(n)
            sim = row("sim", simulate(jobs, caps, protocol, net=net))
            rows.append(sim)
            if args.no_live or not args.url:
                continue
            live = row("live", asyncio.run(run_live(args.url, jobs, caps, protocol)))
            rows.append(live)
            ratio = {k: sim[k] / live[k] if live[k] else float("nan")
                     for k in ("messages_per_job", "latency_mean_ms", "idle_mean_s")}  # fmt: skip
            print("       sim/live: " + ", ".join(f"{k} {v:.2f}" for k, v in ratio.items()))
    if args.url and not args.no_live:
        for protocol in PROTOCOLS:
            record = asyncio.run(run_live(args.url, jobs, site_capacities(5), protocol,
                                          kill=(0, args.kill_at)))  # fmt: skip
            rows.append(row("fault", record))
    for n, count in ((20, args.scale_jobs), (50, args.scale_jobs), (100, args.scale_jobs),
                     (1000, args.big_jobs)):  # fmt: skip
        if count <= 0:
            continue
        scale_jobs = make_jobs(count, seed=2)
        for protocol in PROTOCOLS:
            rows.append(row("scale", simulate(scale_jobs, site_capacities(n), protocol, net=net)))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "swarm_protocols.json").write_text(json.dumps(rows, indent=1))
    chart([r for r in rows if r["run"] != "fault"], args.out)
    print(f"wrote {args.out}/swarm_protocols.json, .html (and .png when kaleido can)")


if __name__ == "__main__":
    main()
