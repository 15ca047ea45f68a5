"""The order wizard: pick a variant, set parameters, send a prompt and files, see the quote, confirm.

* :mod:`.state` — the draft (pure data, versioned so stale buttons are refused);
* :mod:`.flow` — which step comes next; :mod:`.screens` — what each step shows;
* :mod:`.handlers` — the buttons; :mod:`.inputs` — text, photos, audio and documents sent to it;
* :mod:`.media` — checks on files; :mod:`.documents` — files sent as documents, measured; :mod:`.quote` — prices of choices; :mod:`.confirm` — hold + queue.
"""
