"""Money in: Stars top-ups (pre-checkout verdict, crediting once per charge), refunds, manual
top-ups approved by an admin, and the Stars reconciliation against Telegram's transactions.

The rules live here; the ledger rows they write live in ``kiebot.store.money`` and
``kiebot.store.payments``. May import the kernel, ``store`` and ``telegram`` (types, client).
"""
