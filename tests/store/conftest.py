"""Storage tests use the root ``store_db`` fixture: a pool on a fresh database with every packaged
migration applied by the real runner (kiebot.store.migrations), so tests see exactly the schema
production gets."""
