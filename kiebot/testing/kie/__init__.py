"""A fake Kie.ai that speaks real HTTP on 127.0.0.1: uploads, tasks, callbacks, results.

* :mod:`.server` — the server and its fault switches; :mod:`.tasks` — task lifecycle;
* :mod:`.rules` — what the real API refuses; :mod:`.registry` — which models it knows;
* :mod:`.receiver` — a stand-in for a callback receiver; :mod:`.media` — result files it serves.
"""
