"""The benchmarks: entry scripts run from the repository root as ``python -m benchmarks.NAME``
(``python -m benchmarks.cpu_learning --help``); the code they share is ``benchmarks.common``. The runs
kept are in the ledger, docs/results/, indexed by ``python -m benchmarks.results_index``."""
