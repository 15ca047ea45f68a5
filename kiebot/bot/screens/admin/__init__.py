"""The admin panel (``/admin``), for the users in ``ADMIN_ID``/``ADMIN_IDS`` only.

Every route and command here is registered with ``admin=True``, so the router hides them from
everyone else (a non-admin's tap is "this menu is outdated", ``/admin`` is "unknown command").
The original bot's panel had dead buttons and no approvals (reference §6, §9 item 3); here every
button has a handler (``tests/admin/test_panel_walk.py`` taps them all) and every action that
changes something is written to the audit log in the same transaction as its effect.

The map (callback routes, all under ``adm``):

* ``adm`` — the dashboard (:mod:`.dashboard`);
* ``adm.s`` — search by request id, job id, user id, @username or Kie task id (:mod:`.search`),
  ``adm.j:<job>`` — a job card;
* ``adm.u:<user>`` — a user card: ban/unban, balance adjustment, Stars refunds (:mod:`.users`,
  :mod:`.adjust`, :mod:`.refunds`);
* ``adm.m:<page>`` — models: switch on/off, free tier, circuit breakers (:mod:`.models`);
* ``adm.t`` — pending manual top-ups, opened with the payments screen's own Approve/Reject
  (:mod:`.topups`);
* ``adm.b`` — broadcasts (:mod:`.broadcast`; the sender is :mod:`kiebot.chat.broadcast`);
* ``adm.a:<page>`` — the audit log (:mod:`.audit`).

Texts are in ``locales/{ru,en}/admin.toml`` (panel) and ``admin_broadcast.toml``.
"""
