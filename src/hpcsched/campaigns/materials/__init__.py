"""The materials-discovery campaign (issue 7): surrogates, drift detection, continual learning.

Goals ("propose a stable material for UO2", "reproduce the U–Si study") become a task plan
(:mod:`.planner`); :class:`.campaign.MaterialsCampaign` runs it unchanged under the ``sim`` clock
(outcomes computed in-process, durations from :mod:`.durations`) and the live runtime (the
callables of :mod:`.tasks` on real processes, sharing state through files in the run's work dir).
"""
