"""The supervisor (filled in by the running-service work)."""


def main() -> int:
    print("kiebot run: not available yet in this build")
    return 1
