"""Load and speed measurements. Each ``benchmarks/<name>.py`` module has a ``main() -> int`` that prints
its results as markdown tables; ``python -m benchmarks`` runs them all (see ``__main__.py``)."""
