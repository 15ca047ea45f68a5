"""One module per screen family; each registers its routes on ``kiebot.bot.router.routes``."""
