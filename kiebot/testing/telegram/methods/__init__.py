"""The fake Telegram's Bot API methods, one module per group (core, messages, media, payments)."""
