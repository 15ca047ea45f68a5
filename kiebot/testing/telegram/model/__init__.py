"""The fake Telegram's state: users, chats, messages and files, invoices and Stars transactions, events."""
