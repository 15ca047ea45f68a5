"""PostgreSQL storage: connection (pool, embedded server), migrations, one module per aggregate
(users, money, jobs, inbox, payments…), and the leased-work loop that works through claimed rows.

Knows nothing of the bot: imports only the kernel (``config``, ``logs``, ``limits``). Enforced by
the layer contracts in ``pyproject.toml``.
"""
