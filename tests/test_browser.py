"""The notebooks as a person sees them: JupyterLab in headless Chromium, driven by Playwright.

nbmake runs the kernel, not the page, so it cannot see widgets or live plots. This test starts
JupyterLab on localhost (a free port, a token it sets, a fresh GRPO_RUN_DIR, GRPO_QUICK=1),
opens each notebook of ``NOTEBOOKS`` (copies, so nothing is saved into the committed files),
runs all cells from the Run menu, waits until every cell has run, and checks what is on the page:
the reward playground re-scores when its text changes, the config widget's controls are there and
a change updates its validation text, notebook 06's dashboard image changes at least twice during
training and the completion browser lists completions, and no cell shows an error. Screenshots in
JupyterLab's light and dark themes go to ``runs/browser-test/`` (BROWSER_TEST_SCREENSHOTS changes it).

Run it alone: ``make browser``, or ``GRPO_QUICK=1 OMP_NUM_THREADS=1 .venv/bin/python -m pytest -m browser tests``.
Chromium is Debian's (/usr/bin/chromium, ``apt-get install -y chromium``; ``make setup-browser`` installs
it); Playwright drives it through ``executable_path``. Without it the test skips and says why.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
# The notebooks the test opens, in order (05 saves the config that 06 loads). Adding one is one
# line; a notebook without an entry in CHECKS is still run all, screenshot and checked for errors.
NOTEBOOKS = [
    "03_reward_functions.ipynb",
    "05_configure_grpo.ipynb",
    "06_train_and_save.ipynb",
    "08_grpo_from_scratch.ipynb",
]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(os.environ.get("BROWSER_TEST_SCREENSHOTS", ROOT / "runs" / "browser-test"))
RUN_TIMEOUT_S = 900  # one notebook's Run All (06 trains; on a busy 2-core machine it takes minutes)
START_TIMEOUT_S, START_ATTEMPTS = 45, 3  # the first cell runs within seconds of the click; else click again
THEMES = ("JupyterLab Light", "JupyterLab Dark")

# JupyterLab settings for the test's own settings folder: no autosave, every cell in the page
# (no windowing, so the test sees all of them), no news or update checks (no network).
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/apputils-extension/themes.jupyterlab-settings": {"theme": THEMES[0]},
}


def _chromium_missing() -> str | None:
    try:
        import playwright  # noqa: F401
    except ImportError:
        return (
            "Playwright is not installed: make setup-browser installs it "
            "(pip install -r tests/requirements-browser.txt)"
        )
    if not os.access(CHROMIUM, os.X_OK):
        return (
            f"Chromium is not installed at {CHROMIUM} and could not be installed here "
            "(make setup-browser runs `apt-get install -y chromium` where apt-get is usable; or set CHROMIUM=/path)"
        )
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """JupyterLab on localhost over copies of the notebooks: (base url, token, notebook folder)."""
    if reason := _chromium_missing():
        pytest.skip(reason)
    home = tmp_path_factory.mktemp("lab")
    notebooks = home / "root" / "notebooks"
    notebooks.mkdir(parents=True)
    for name in NOTEBOOKS:
        shutil.copy(ROOT / "notebooks" / name, notebooks / name)
    for name, values in LAB_SETTINGS.items():
        path = home / "settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    (home / "workspaces").mkdir()
    port, token = _free_port(), secrets.token_hex(16)
    env = {
        **os.environ,
        "GRPO_QUICK": "1",
        "GRPO_RUN_DIR": str(home / "run"),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    log = open(home / "jupyterlab.log", "w")
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            "--ServerApp.open_browser=False",
            "--ServerApp.ip=127.0.0.1",
            "--allow-root",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={home / 'root'}",
            f"--LabApp.user_settings_dir={home / 'settings'}",
            f"--LabApp.workspaces_dir={home / 'workspaces'}",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5).read()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        "JupyterLab did not start:\n" + (home / "jupyterlab.log").read_text()[-3000:]
                    ) from None
                time.sleep(0.5)
        yield base, token, notebooks
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)  # the server and the kernels it started
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        log.close()


@pytest.fixture(scope="module")
def browser():
    if reason := _chromium_missing():
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="chromium-profile.")
    with sync_playwright() as p:
        # A persistent context is how Playwright passes a new, empty --user-data-dir.
        context = p.chromium.launch_persistent_context(
            profile,
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1100},
            ignore_default_args=["--enable-automation"],
        )
        context.set_default_timeout(60_000)
        try:
            yield context
        finally:
            context.close()
            shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module", autouse=True)
def screenshot_folder():
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)


# ---- driving JupyterLab

# Per code cell: its prompt ("[ ]:", "[*]:", "[3]:"), its source, and each <img> in its outputs
# (length + a cheap hash of its src, so a changed image is seen without sending it back).
CELLS_JS = """() => [...document.querySelectorAll('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell')].map(cell => {
  const hash = s => { let h = 0; for (let i = 0; i < s.length; i += 7) h = (h * 31 + s.charCodeAt(i)) | 0; return s.length + ':' + h; };
  return {prompt: (cell.querySelector('.jp-InputPrompt') || {}).textContent || '',
          source: (cell.querySelector('.cm-content') || {}).innerText || '',
          images: [...cell.querySelectorAll('.jp-OutputArea-output img')].map(img => hash(img.src))};
})"""  # noqa: E501


def open_notebook(page, lab, name):
    base, token, _ = lab
    page.goto(f"{base}/lab/tree/notebooks/{name}?token={token}&reset")  # reset: only this notebook open
    page.wait_for_selector(".jp-NotebookPanel .jp-CodeCell", timeout=120_000)
    page.wait_for_function(
        "() => { const s = document.querySelector('.jp-Notebook-ExecutionIndicator');"
        " return s && s.getAttribute('data-status') === 'idle'; }",
        timeout=120_000,
    )


def menu(page, *path: str):
    """Click through the menu bar, e.g. ``menu(page, "Run", "Run All Cells")``."""
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{re.escape(path[0])}$")).first.click()
    for i, label in enumerate(path[1:], start=1):
        item = (
            page.locator(".lm-Menu:visible .lm-Menu-item")
            .filter(has=page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(label)}$")))
            .last
        )
        item.hover() if i < len(path) - 1 else item.click()


def run_all(page, watch=None) -> list[dict]:
    """Run > Run All Cells; return the cells once none is queued or running. ``watch(cells)`` is
    called at every poll while they run."""
    deadline, started = time.monotonic() + RUN_TIMEOUT_S, False
    for attempt in range(START_ATTEMPTS):  # a click that lands while the page is still settling is lost
        page.keyboard.press("Escape")  # close a menu or dialog left open
        page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook").first.click(position={"x": 5, "y": 5})
        menu(page, "Run", "Run All Cells")
        start_by = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < min(start_by if not started else deadline, deadline):
            cells = page.evaluate(CELLS_JS)
            if watch:
                watch(cells)
            busy = any("*" in c["prompt"] for c in cells)
            started = started or busy or all(any(ch.isdigit() for ch in c["prompt"]) for c in cells)
            if started and not busy:
                page.wait_for_function(
                    "() => document.querySelector('.jp-Notebook-ExecutionIndicator')"
                    ".getAttribute('data-status') === 'idle'"
                )
                return page.evaluate(CELLS_JS)
            time.sleep(0.2)
        if started:
            raise AssertionError(f"the notebook was still running after {RUN_TIMEOUT_S} s")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"run-all-did-not-start-{attempt + 1}.png"))
    raise AssertionError(
        f"Run > Run All Cells started nothing in {START_ATTEMPTS} tries of {START_TIMEOUT_S} s "
        f"(screenshots: {SCREENSHOTS}/run-all-did-not-start-*.png)"
    )


def saved_outputs(page, lab, name) -> list[dict]:
    """Save the notebook (File > Save; the copy, never the committed file) and read its outputs."""
    path = lab[2] / name
    before = path.stat().st_mtime_ns
    menu(page, "File", "Save Notebook")
    deadline = time.monotonic() + 30
    while path.stat().st_mtime_ns == before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert path.stat().st_mtime_ns != before, "File > Save did not write the notebook"
    nb = json.loads(path.read_text())
    return [output for cell in nb["cells"] if cell["cell_type"] == "code" for output in cell["outputs"]]


def assert_no_errors(page, lab, name, cells):
    unrun = [c["source"][:80] for c in cells if not any(ch.isdigit() for ch in c["prompt"])]
    errors = [f"{o['ename']}: {o['evalue']}" for o in saved_outputs(page, lab, name) if o["output_type"] == "error"]
    assert not errors, f"{name}: cells show errors: {errors}"
    assert not unrun, f"{name}: cells did not run: {unrun}"
    shown = page.locator(
        ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-OutputArea-output", has_text="Traceback (most recent call last)"
    )
    assert shown.count() == 0, f"{name}: a traceback is shown: {shown.first.inner_text()[:1000]}"


def cell_with(page, text: str):
    cell = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-CodeCell").filter(
        has=page.locator(".cm-content", has_text=text)
    )
    assert cell.count() >= 1, f"no code cell contains {text!r}"
    return cell.first


def set_theme(page, theme: str):
    menu(page, "Settings", "Theme", theme)
    light = "false" if "Dark" in theme else "true"
    page.wait_for_function(f"() => document.body.dataset.jpThemeLight === '{light}'")
    page.wait_for_timeout(1000)  # the theme's CSS applied everywhere


def screenshots(page, stem: str, cells: dict):
    """For each theme: the window, and each named cell (its input and outputs)."""
    for theme in THEMES:
        set_theme(page, theme)
        suffix = "dark" if "Dark" in theme else "light"
        for label, cell in cells.items():
            cell.scroll_into_view_if_needed()
            cell.screenshot(path=SCREENSHOTS / f"{stem}-{label}-{suffix}.png")
        page.screenshot(path=SCREENSHOTS / f"{stem}-window-{suffix}.png")
    set_theme(page, THEMES[0])


# ---- what each notebook shows


def wait_text(locator, test, what: str, timeout_s: float = 30):
    """Poll ``locator``'s text until ``test(text)`` holds (widgets re-render their HTML, so element
    handles go stale: the locator is looked up again each time)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        text = locator.inner_text()
        if test(text):
            return text
        time.sleep(0.2)
    raise AssertionError(f"{what}; the page shows: {locator.inner_text()[:500]}")


def check_reward_playground(page):
    cell = cell_with(page, "reward_playground(")
    text, scores = cell.locator(".widget-textarea textarea"), cell.locator(".widget-html").last
    assert text.count() == 1 and scores.locator("table").count() == 1, (
        "the playground's text box and score table are not shown"
    )
    before = scores.inner_text()
    text.fill("no answer at all")
    wrong = wait_text(scores, lambda t: t != before and "None" in t, "the scores did not change with the text")
    text.fill("Half of 48 is 24, and 48 + 24 = 72.\n<answer>72</answer>")  # the screenshot shows a right answer
    right = wait_text(scores, lambda t: "+2.000" in t and "+3.250" in t, "a right answer in format did not score 2.0")
    assert wrong != right
    return {"playground": cell}


def check_config_widget(page):
    cell = cell_with(page, "config_widget(")
    for label in (
        "preset",
        "num_generations",
        "temperature",
        "max_completion_length",
        "beta (KL)",
        "loss_type",
        "learning_rate",
        "per_device_batch",
        "grad_accumulation",
        "max_steps",
    ):
        assert cell.locator(".widget-label", has_text=label).count() >= 1, (
            f"config widget: no control labelled {label!r}"
        )
    assert cell.get_by_role("button", name="Build GRPOConfig").count() == 1
    messages = cell.locator(".widget-html", has_text="completions =").first
    before = messages.inner_text()
    row = cell.locator(".widget-hslider", has=page.locator(".widget-label", has_text="num_generations")).first
    readout = row.locator(".widget-readout")
    old = readout.inner_text().strip()
    new = "3" if old != "3" else "5"
    readout.click()
    page.keyboard.press("Control+A")
    page.keyboard.type(new)
    page.keyboard.press("Enter")
    wait_text(
        messages,
        lambda t: t != before and f"x {new} per step" in t,
        "the validation text did not follow num_generations",
    )
    return {"config-widget": cell}


def check_training(page, watched: dict):
    train = cell_with(page, "trainer.train()")
    seen = watched.get("trainer.train()", [])
    assert len(seen) >= 3, f"the dashboard image changed {max(0, len(seen) - 1)} time(s) during training (want >= 2)"
    assert train.locator(".jp-OutputArea-output img").count() >= 1
    browser = cell_with(page, "completion_browser(")
    assert browser.locator(".widget-dropdown select").count() >= 2, "the completion browser's filters are missing"
    rows = browser.locator(".widget-html-content table tr")
    assert rows.count() >= 2 and browser.locator(".widget-html-content", has_text="Step ").count() >= 1, (
        "the completion browser lists no completions"
    )
    return {"dashboard": train, "completion-browser": browser}


def check_advantage_explorer(page):
    cell = cell_with(page, "advantage_explorer(")
    text, table = cell.locator(".widget-text input"), cell.locator(".widget-html").last
    assert text.count() == 1 and table.locator("table").count() == 1, (
        "the explorer's reward box and table are not shown"
    )
    text.fill("0, 0, 0, 2")  # mean 0.5, std 1: advantages -0.5 and +1.5 under "group"
    wait_text(table, lambda t: "+1.500" in t and "-0.500" in t, "the advantages did not follow the rewards")
    text.fill("1, 1, 1, 1")  # a flat group: every advantage 0
    wait_text(table, lambda t: "+1.500" not in t and "+0.000" in t, "a flat group did not give advantages of 0")
    text.fill("0, 0, 0, 2 | 1, 1, 1, 1")  # the screenshot shows two groups, one of them flat
    wait_text(table, lambda t: "+1.500" in t, "two groups were not shown")
    return {"advantage-explorer": cell}


CHECKS = {
    "03_reward_functions.ipynb": check_reward_playground,
    "05_configure_grpo.ipynb": check_config_widget,
    "08_grpo_from_scratch.ipynb": check_advantage_explorer,
}


def image_watcher(watched: dict):
    """Record, per watched cell source, each new image its outputs show (in order)."""

    def watch(cells):
        for key in ("trainer.train()",):
            for cell in cells:
                if key in cell["source"] and cell["images"]:
                    history = watched.setdefault(key, [])
                    if not history or history[-1] != cell["images"][-1]:
                        history.append(cell["images"][-1])

    return watch


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_in_jupyterlab(lab, browser, name):
    page = browser.new_page()
    page.on("dialog", lambda dialog: dialog.dismiss())
    try:
        open_notebook(page, lab, name)
        watched: dict = {}
        started = time.monotonic()
        cells = run_all(page, watch=image_watcher(watched))
        print(f"{name}: Run All took {time.monotonic() - started:.0f} s")
        assert_no_errors(page, lab, name, cells)
        stem = name.removesuffix(".ipynb")
        if name.startswith("06_"):
            shown = check_training(page, watched)
        elif name in CHECKS:
            shown = CHECKS[name](page)
        else:
            shown = {}
        screenshots(page, stem, shown)
    except Exception:
        page.screenshot(path=SCREENSHOTS / f"{name.removesuffix('.ipynb')}-failure.png")
        raise
    finally:
        page.close()
        shut_down_kernels(lab)


def shut_down_kernels(lab):
    """The notebook's kernel ends with its test (two idle kernels with a model loaded slow a small machine)."""
    base, token, _ = lab
    for kernel in json.loads(urllib.request.urlopen(f"{base}/api/kernels?token={token}", timeout=10).read()):
        request = urllib.request.Request(f"{base}/api/kernels/{kernel['id']}?token={token}", method="DELETE")
        urllib.request.urlopen(request, timeout=30).read()
