"""Command-line tools (run as `python tools/NAME.py`); importable for tests."""
