"""Updates in: store first, acknowledge second, handle chat by chat (DESIGN "An update").

* :mod:`~kiebot.intake.writer` — the webhook's group-commit writer: concurrent requests share
  one INSERT, and a request is answered 200 only after its update is stored;
* :mod:`~kiebot.intake.dispatch` — per-chat dispatch: workers claim stored updates chat by chat,
  in ``update_id`` order, and run the bot's handler.

May import the kernel, ``store``, ``telegram`` (types) and ``bot`` (the handler it runs); never
``runtime``.
"""
