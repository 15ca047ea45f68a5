"""The conversation: screens, keyboards and texts (ru, en). No SQL, no HTTP."""
