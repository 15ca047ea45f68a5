"""The chaos harness: the bot as a real process under scripted users and a seeded fault schedule."""
