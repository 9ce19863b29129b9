"""The language-model scheduler (``--policy llm``): feasible actions as a grammar, the prompt,
and :class:`~hpcsched.llmsched.policy.LlmPolicy` (Jadhav et al., SC'25 WORKS)."""
