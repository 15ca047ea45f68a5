"""The sandbox: the real bot against the in-repo fakes, with a browser chat page (``make sandbox``).

An entry point like ``kiebot.__main__``: it may import ``runtime`` and the fakes (``testing``);
nothing imports it.
"""
