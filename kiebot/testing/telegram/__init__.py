"""A fake Telegram Bot API that speaks real HTTP on 127.0.0.1 (tests, the sandbox, benchmarks).

* :mod:`.server` — the server and its fault switches; :mod:`.app` — its HTTP routes;
* :mod:`.model` — its state: chats, users, messages, files, invoices and Stars, events;
* :mod:`.rules` — what the real API enforces: parameter validation against the spec, error
  bodies, flood limits, injected faults;
* :mod:`.methods` — the Bot API methods, grouped (core, messages, media, payments);
* :mod:`.sim`, :mod:`.users`, :mod:`.updates`, :mod:`.webhook`, :mod:`.html` — simulated users
  and the updates they produce, webhook delivery, the HTML the sandbox shows.
"""
