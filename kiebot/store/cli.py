"""``python -m kiebot migrate`` (filled in by the storage work)."""


def migrate_main() -> int:
    print("kiebot migrate: not available yet in this build")
    return 1
