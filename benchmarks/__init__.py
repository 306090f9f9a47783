"""The benchmarks: entry scripts run from the repository root as ``python -m benchmarks.NAME``
(``python -m benchmarks.cpu_learning --help``); the code they share is ``benchmarks.common``."""
