"""Named presets of the one backfilling engine (each a line, as in pybatsim's presets)."""

from __future__ import annotations

from hpcsched.policies.backfilling import BackfillPolicy

PRESETS: dict[str, BackfillPolicy] = {
    "fcfs": BackfillPolicy("fcfs", order="fcfs", backfill="none"),
    "sjf": BackfillPolicy("sjf", order="sjf", backfill="none"),
    "easy": BackfillPolicy("easy", order="fcfs", backfill="easy"),
    "easy-sjbf": BackfillPolicy("easy-sjbf", order="fcfs", backfill="easy", backfill_order="sjf"),
    "conservative": BackfillPolicy("conservative", order="fcfs", backfill="conservative"),
    "prioritybf": BackfillPolicy("prioritybf", order="fcfs", backfill="prioritybf"),
    # every pass plans every job in priority order (Slurm's backfill reserves for each job it
    # tests), after every event: the Slurm replay before its two schedulers were modelled
    # ("slurm" is hpcsched.policies.slurm_sched); weights from a site file (--site)
    "slurm-plan": BackfillPolicy(
        "slurm-plan", order="multifactor", backfill="conservative", replan=True
    ),
}
