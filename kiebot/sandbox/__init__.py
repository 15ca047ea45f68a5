"""The sandbox: the real bot against the in-repo fakes, with a browser chat page."""
