"""The job lifecycle (DESIGN "A generation"): confirm → submit → await → deliver → settle.

* :mod:`~kiebot.generation.service` — what the conversation calls: confirm (hold + queue in one
  transaction) and cancel;
* :mod:`~kiebot.generation.workers` — the submit and delivery stages of each instance;
* :mod:`~kiebot.generation.kie_news` — Kie's callbacks, verified and applied;
* :mod:`~kiebot.generation.reconcile` — the leader's polls, time-outs and progress edits;
* :mod:`~kiebot.generation.outcomes` — moving a job to its outcome, from whichever source.

May import the kernel, ``store``, ``kie``, ``telegram``, ``catalog`` and ``chat``; never ``bot``
(the conversation calls in, the job's messages are formatted with ``chat``).
"""
