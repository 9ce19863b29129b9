"""Agents: HARP's closed loop. Long-lived consumers of the event bus that decide by rules and act
through the adapters, each action journaled with the event that caused it.

- :mod:`.rules`: RULES.yaml (what to consume, which action each event calls for) and the rule
  decision, with no I/O
- :mod:`.journal`: the action journal (SQLite, WAL): intent before acting, result after, keyed by
  the causing event's ``event_id`` and the rule
- :mod:`.actions`: what the actions do (``sbatch`` a resubmission, a shell command, a ledger
  line), each with a check of the world for after a crash
- :mod:`.refit`: ``refit``, ``predict fit``'s bound fitted again and renamed into place
- :mod:`.split`: the ``split`` proposal (journaled, never carried out)
- :mod:`.decider`: the optional language-model decider, with a deadline and the rules' fallback
- :mod:`.agent`: the loop: recover, then consume as a member of a consumer group, acknowledging
  an event only once its actions are journaled
"""
