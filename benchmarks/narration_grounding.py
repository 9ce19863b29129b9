"""How grounded is a model's narration? Insight of every chart of several real traces, checked.

For each trace (SWF traces and sacct dumps in ``../shared/data``) every view that has data (the
summary and the ten charts; SWF has no partitions or QoS) is narrated by the endpoint with the
Insight prompt, and every number of every sentence is checked against the view's facts
(:mod:`hpcsched.llm.grounding`). Printed:

- **numeric claims**: numbers the model wrote in its sentences; **verified**: those that equal a
  fact (2 % relative or the rounding written, about the group the fact is about);
- **unverifiable claims hidden**: numbers that did not check; their sentences are dropped, so
  the user never sees them (the report shows only the count);
- **unverifiable claims shown**: digits in the sentences the user *does* see that no check
  accounts for (an audit independent of the number parser): the goal is 0;
- sentences verified / unverifiable (no number; shown marked) / dropped; views that fell back
  to the deterministic insights, and the server-reported tokens.

Usage: ``python benchmarks/narration_grounding.py [--url URL] [--traces A,B,...] [--json]``
(``--url`` defaults to ``$HPCSCHED_LLM_URL``; start the local model with
``scripts/llm-local.sh start``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from hpcsched.analytics.derive import prepare
from hpcsched.analytics.narrate import narrate
from hpcsched.llm import ChatClient, TokenLedger, load_settings
from hpcsched.llm.grounding import unaccounted_digits
from hpcsched.workloads.load import load_jobs

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TRACES = (
    "traces/KTH-SP2-1996-2.1-cln.swf.gz",
    "traces/SDSC-Par-1996-3.1-cln.swf.gz",
    "traces/LLNL-Atlas-2006-2.1-cln.swf.gz",
    "sacct/local-slurm-sample.txt",
    "traces/CTC-SP2-1996-3.1-cln.swf.gz",
)


def run_trace(client: ChatClient, path: Path) -> dict[str, Any]:
    opened = load_jobs(path)
    prep = prepare(opened.table)
    name = path.name.split(".")[0]
    began = time.monotonic()
    narration = narrate(client, [prep], names=(name,), capacity=(opened.machine_procs,))
    claims = verified = hidden = collateral = shown_unchecked = 0
    sentences: Counter[str] = Counter()
    views = fallbacks = 0
    examples: list[dict[str, Any]] = []
    for view in narration.views.values():
        if not view.facts:
            continue
        views += 1
        fallbacks += view.reason is not None
        for check in view.checks:
            sentences[check.status] += 1
            claims += len(check.numbers)
            ok = sum(n.ok for n in check.numbers)
            verified += ok
            if check.status == "dropped":
                hidden += len(check.numbers) - ok
                collateral += ok
            else:
                shown_unchecked += unaccounted_digits(check)
            if len(examples) < 3:
                examples.append({"view": view.key, "status": check.status, "text": check.text})
    return {
        "trace": name,
        "kind": opened.kind,
        "views": views,
        "fallbacks": fallbacks,
        "sentences": dict(sentences),
        "numeric_claims": claims,
        "verified": verified,
        "hidden_unverifiable": hidden,
        "hidden_verified_with_their_sentence": collateral,
        "shown_unchecked_digits": shown_unchecked,
        "seconds": round(time.monotonic() - began, 1),
        "examples": examples,
        "note": narration.note,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=os.environ.get("HPCSCHED_LLM_URL"))
    parser.add_argument("--model", default=None)
    parser.add_argument("--traces", default=",".join(TRACES), help="paths under ../shared/data")
    parser.add_argument("--deadline", type=float, default=300.0, help="seconds per call")
    parser.add_argument("--json", action="store_true", help="print one JSON object at the end")
    args = parser.parse_args()
    if not args.url:
        print("no endpoint: pass --url or set HPCSCHED_LLM_URL", file=sys.stderr)
        return 2
    env = {k: v for k, v in os.environ.items() if k != "HPCSCHED_CONFIG"}
    settings = load_settings(
        {"url": args.url, "model": args.model, "deadline": args.deadline, "timeout": args.deadline},
        env={**env, "HPCSCHED_CONFIG": "/nonexistent"},
    )
    ledger = TokenLedger("benchmarks/narration_grounding.py")
    rows = []
    with ChatClient(settings, ledger=ledger) as client:
        for rel in args.traces.split(","):
            row = run_trace(client, DATA / rel)
            rows.append(row)
            print(
                f"{row['trace']:<28} {row['kind']:<10} views {row['views']:>2} "
                f"claims {row['numeric_claims']:>3} verified {row['verified']:>3} "
                f"hidden {row['hidden_unverifiable']:>3} shown-unchecked "
                f"{row['shown_unchecked_digits']} sentences {row['sentences']} "
                f"fallbacks {row['fallbacks']} ({row['seconds']} s)",
                flush=True,
            )
    total = Counter[str]()
    for row in rows:
        for key in ("views", "fallbacks", "numeric_claims", "verified", "hidden_unverifiable",
                    "hidden_verified_with_their_sentence", "shown_unchecked_digits"):  # fmt: skip
            total[key] += row[key]
        total.update({f"sentences_{k}": v for k, v in row["sentences"].items()})
    tokens = ledger.totals()
    completion_s = sum(c.elapsed_s for c in ledger.calls if c.completion_tokens)
    summary = {
        "endpoint": settings.url,
        "model": client.model_name() if rows else None,
        "traces": len(rows),
        **dict(total),
        "verified_share": total["verified"] / total["numeric_claims"]
        if total["numeric_claims"]
        else None,
        "tokens": tokens,
        "completion_tokens_per_call_second": tokens["completion_tokens"] / completion_s
        if completion_s
        else None,
        "rows": rows,
    }
    share = summary["verified_share"]
    print(
        f"\n{len(rows)} traces, {total['views']} views ({total['fallbacks']} fell back): "
        f"{total['numeric_claims']} numeric claims, {total['verified']} verified "
        f"({share:.1%} of claims); unverifiable claims hidden: {total['hidden_unverifiable']}; "
        f"unverifiable claims shown: {total['shown_unchecked_digits']} (goal 0)"
        if share is not None
        else f"\n{len(rows)} traces: no numeric claims"
    )
    print(
        f"sentences: {total['sentences_verified']} verified, "
        f"{total['sentences_unverifiable']} unverifiable (shown marked), "
        f"{total['sentences_dropped']} dropped; tokens: prompt {tokens['prompt_tokens']:,}, "
        f"completion {tokens['completion_tokens']:,} in {tokens['calls']} calls"
    )
    if args.json:
        print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
