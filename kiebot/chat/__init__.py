"""How we speak in chat, shared by the conversation (``bot``), the job lifecycle (``generation``)
and broadcasting: message formatting, the callback-data codec, the broadcast sender.

Lives apart from ``bot`` so that ``generation`` can format a job's messages and buttons without
importing the conversation (which imports ``generation``): no package cycle. May import the
kernel, ``telegram``, ``catalog`` and ``store``.
"""
