"""Test support shared by every test folder, defined once.

* :mod:`.log_guard` — fails the test that logged a secret;
* :mod:`.hyp` — runs Hypothesis examples inside a test's trio world;
* :mod:`.update_strategies` — generators of Telegram updates for the fuzz tests;
* :mod:`.books` — the ledger invariant checked after money tests.

The chat driver and the world of fakes plus the real app live in :mod:`kiebot.testing.harness`
(the sandbox and the benchmarks use them too).
"""
