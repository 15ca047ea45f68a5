"""The conversation: the router, screens (``screens/``, the order wizard in ``screens/wizard/``,
the admin panel in ``screens/admin/``), keyboards and texts (``locales/``, ru then en).

No SQL and no HTTP of its own: it calls ``store`` functions and the Telegram client's typed
methods. May import the kernel, ``store``, ``telegram``, ``catalog``, ``chat``, ``generation`` and
``payments``; only ``runtime`` imports it.
"""
