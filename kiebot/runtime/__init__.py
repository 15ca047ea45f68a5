"""The process: composition root, supervision, leadership, scheduled duties, HTTP and probes.

The only package that wires concrete things together: it imports everything else (config, store,
telegram, kie, catalog, payments, intake, generation, bot) and nothing imports it back, except the
entry points (``kiebot.__main__``, the sandbox, tests and benchmarks that start an app).

* :mod:`~kiebot.runtime.app` — start order of one instance and its shutdown;
* :mod:`~kiebot.runtime.supervisor` — restart-with-back-off for background services;
* :mod:`~kiebot.runtime.leader` — leadership and what only the leader runs;
* :mod:`~kiebot.runtime.scheduler` / :mod:`~kiebot.runtime.duties` — the leader's periodic duties;
* :mod:`~kiebot.runtime.web` — the HTTP routes (webhook, Kie callbacks, probes, metrics);
* :mod:`~kiebot.runtime.health` — what the probes and ``/health`` report;
* :mod:`~kiebot.runtime.handle` — what a started app hands to whoever started it.
"""
