"""Test support shared by every test folder, defined once.

* :mod:`.log_guard` — fails the test that logged a secret;
* :mod:`.hyp` — runs Hypothesis examples inside a test's trio world;
* :mod:`.update_strategies` — generators of Telegram updates for the fuzz tests;
* :mod:`.books` — the ledger invariant checked after money tests;
* :mod:`.webhook` — webhook-mode settings and the JSON of a user's private message;
* :mod:`.process` — ``python -m kiebot run`` as a real process: start, probe, SIGTERM;
* :mod:`.jobs` — a paid job written straight to the store;
* :mod:`.cashier` — the bot's side of a Stars payment, for the fake Telegram's tests.

The chat driver and the world of fakes plus the real app live in :mod:`kiebot.testing.harness`
(the sandbox and the benchmarks use them too).
"""
