"""Testing with the emulator: the pytest plugin (plugin.py), emulator handles for a subprocess, a
thread or a URL (emulator.py), the SDK set-up (sdk.py) and polling with a deadline (waiting.py).

Only the standard library is imported here: pytest imports this package for every run."""
