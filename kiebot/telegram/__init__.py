"""A small, typed Telegram Bot API client. Imports nothing from the rest of kiebot."""
