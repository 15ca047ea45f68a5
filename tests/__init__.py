"""kiebot's tests. A package so that shared test support is imported by name (``tests.support``), never loaded from a file path."""
