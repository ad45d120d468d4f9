"""Stand-in for st2tests: only the pack-testing classes (no database, no broker)."""
