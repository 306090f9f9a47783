"""pytest plugin of the GPU check (gpu_check/gpu_check.sh loads it with ``-p gpu_check_plugin``).

- Gives each test process its own Unsloth compile cache (``UNSLOTH_COMPILE_LOCATION``): several
  processes run side by side (pytest-xdist workers, two pytest runs) and would otherwise write the
  same files. Notebook kernels inherit it from the process that starts them.
- Appends one JSON line per finished test to ``GPU_CHECK_PROGRESS`` as it finishes, so that the
  summary has every result up to the moment a run is stopped (pytest's junit XML is written only
  at the end of a run). gpu_check.sh adds an ``interrupted`` line when its deadline stopped a
  run, so that the test that was running then is reported as stopped, not as failed.
"""

from __future__ import annotations

import json
import os
import re
import time

import pytest

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_config = None


def _write(record: dict) -> None:
    path = os.environ.get("GPU_CHECK_PROGRESS")
    if not path:
        return
    record = {"time": round(time.time(), 3), "run": os.environ.get("GPU_CHECK_LABEL", "main"), **record}
    # one write() per line on a file opened for appending: the lines of parallel runs do not mix
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(record) + "\n").encode())
    finally:
        os.close(fd)


def _is_worker(config) -> bool:
    return hasattr(config, "workerinput")


def pytest_configure(config):
    global _config
    _config = config
    root = os.environ.get("GPU_CHECK_COMPILE_ROOT")
    if root:
        worker = os.environ.get("PYTEST_XDIST_WORKER")  # gw0, gw1 ... in pytest-xdist's workers
        name = os.environ.get("GPU_CHECK_LABEL", "main") + (f"-{worker}" if worker else "")
        os.environ["UNSLOTH_COMPILE_LOCATION"] = os.path.join(root, name)


def pytest_collection_finish(session):
    if not _is_worker(session.config) and session.items:
        _write({"event": "collected", "nodeids": [item.nodeid for item in session.items]})


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node, ids):
    # with pytest-xdist the controller sees the collection here (every worker collects the same)
    if not getattr(pytest_xdist_node_collection_finished, "done", False):
        pytest_xdist_node_collection_finished.done = True
        _write({"event": "collected", "nodeids": list(ids)})


def pytest_collectreport(report):
    # a test file that cannot be imported (error) or skips itself whole (importorskip at the top)
    if _config is None or _is_worker(_config) or report.outcome == "passed":
        return
    text = _ANSI.sub("", report.longreprtext or "")
    _write({"event": "result", "nodeid": report.nodeid, "when": "collect",
            "outcome": "error" if report.failed else "skipped", "seconds": 0.0,
            "message": "\n".join(text.splitlines()[-30:])})  # fmt: skip


def pytest_runtest_logreport(report):
    if _config is None or _is_worker(_config):
        return  # with xdist the controller writes the line: each report reaches it too
    if report.when != "call" and report.outcome == "passed":
        return  # setup and teardown count only when they fail or skip
    message = ""
    if report.outcome != "passed":
        text = _ANSI.sub("", report.longreprtext or "")
        message = "\n".join(text.splitlines()[-30:])
    outcome = report.outcome
    if report.when != "call" and outcome == "failed":
        outcome = "error"
    if hasattr(report, "wasxfail"):
        outcome = "xfailed" if report.skipped else "xpassed"
    _write({"event": "result", "nodeid": report.nodeid, "when": report.when, "outcome": outcome,
            "seconds": round(report.duration, 2), "message": message})  # fmt: skip
