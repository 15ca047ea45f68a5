"""PostgreSQL storage: connection, migrations and one module per aggregate. Knows nothing of the bot."""
