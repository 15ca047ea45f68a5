"""In-repo fakes of the outside world (Telegram Bot API, Kie.ai), used by tests and the sandbox."""
