"""kiebot: a Telegram bot selling Kie.ai generations for a prepaid ruble balance (see README.md)."""

__version__ = "0.1.0"
