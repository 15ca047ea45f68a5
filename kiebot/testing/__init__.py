"""In-repo fakes of the outside world (Telegram Bot API in ``telegram/``, Kie.ai in ``kie/``) and
the harness that runs the real app against them (``harness``), used by tests, the sandbox and the
benchmarks.

Production code never imports this package (a layer contract): ``KIE_STUB``'s in-process fake is
passed to the runtime by the entry point (``kiebot.testing.kie.stub``).
"""
