"""The JupyterLab experience in a real browser: open ``01_data`` in JupyterLab, run all cells, look at the result.

    .venv/bin/python -m pytest tests/browser              # these tests alone (about 1.5 min)
    TOYROBOT_REQUIRE_BROWSER=1 .venv/bin/python -m pytest  # what `make test` runs: a missing browser fails

What happens, as a user would do it:

* a private JupyterLab (``jupyter lab`` of the project's Python) on 127.0.0.1, a free port and a random token, with
  its own config, data and runtime folders in a temporary folder, so that nobody's settings, workspaces or
  extensions change what the test sees (and nothing the test does outlives it);
* it serves a temporary folder holding a *copy* of ``notebooks/01_data.ipynb`` (the committed notebook is never
  touched) whose ``parameters`` cell points at a tiny generated data set and temporary output folders, with its
  stored outputs and execution counts removed (so only what this run produces can pass), plus one last cell that
  prints which Python and which ``toyrobot_utils`` the kernel runs;
* the kernel is the ``python3`` kernel spec written into that private data folder: this very Python, with the
  repository on ``PYTHONPATH`` (a checkout under test wins over an editable install made from elsewhere);
* headless Chromium -- Debian's ``chromium`` package, never a Playwright browser download -- driven by Playwright
  opens ``/lab/tree/01_data.ipynb``, waits for the kernel, clicks *Run > Run All Cells* in the menu bar, waits until
  every code cell has an execution count, and saves the notebook with Ctrl+S;
* checks: no output in the page is an error traceback, the saved notebook (the browser's own notebook model) holds
  no ``error`` output and every code cell ran, and the sample collage is an ``<img>`` that the browser decoded
  (``complete`` and ``naturalWidth > 0``) and displays at a visible size.

A second, quick test plants a ``raise`` in a small notebook and checks that the same detection reports it, so the
first test cannot pass by looking in the wrong place.

Without Chromium or Playwright the tests are skipped with the reason, unless ``TOYROBOT_REQUIRE_BROWSER=1`` (set by
``make test``, whose ``browser`` target installs Chromium), where they fail instead. ``TOYROBOT_CHROMIUM`` overrides
the browser path. On failure, screenshots, the page's outputs and the JupyterLab log are kept in
``build/browser-test/`` (the collage screenshot is written there on success too).
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
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "01_data.ipynb"
ARTIFACTS = Path(os.environ.get("TOYROBOT_BROWSER_ARTIFACTS", ROOT / "build" / "browser-test"))
REQUIRED = os.environ.get("TOYROBOT_REQUIRE_BROWSER", "") not in ("", "0")

# A few photos per class are enough for every cell of 01_data (its collage shows up to 5 per class).
DATA_COUNTS = {"training": 5, "validation": 2, "test": 2}

# Bounded waits (seconds). Both tests together normally take 1.5 min on a busy 2-core machine.
SERVER_START = 120
PAGE_LOAD = 120
KERNEL_READY = 180
RUN_ALL = 600
STALL = 20  # kernel idle, nothing queued, yet cells without a count: the run was lost; fail rather than wait

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
                 "--disable-extensions", "--no-first-run", "--mute-audio"]
KERNEL_MARKER = "TOYROBOT_KERNEL"
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|^\s*[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit)\b",
                       re.MULTILINE)


def _unavailable(reason: str):
    if REQUIRED:
        pytest.fail(f"{reason} (TOYROBOT_REQUIRE_BROWSER=1: the browser test must run)", pytrace=False)
    pytest.skip(reason)


def chromium_path() -> str:
    candidate = os.environ.get("TOYROBOT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not (os.path.isfile(candidate) and os.access(candidate, os.X_OK)):
        _unavailable(f"no Chromium at {candidate}: install Debian's chromium (`make browser` or "
                     "`sudo apt-get install chromium`)")
    return candidate


# --------------------------------------------------------------------------------------------------- JupyterLab


class Lab:
    """A private ``jupyter lab`` serving ``root`` on 127.0.0.1; ``url(path)`` gives an authenticated address."""

    def __init__(self, base: Path):
        self.base = base
        self.root = base / "root"
        self.log_path = base / "jupyterlab.log"
        self.token = secrets.token_hex(24)
        self.port = _free_port()
        self.process: subprocess.Popen | None = None
        for sub in ("root", "config/labconfig", "data/kernels/python3", "runtime", "ipython"):
            (base / sub).mkdir(parents=True, exist_ok=True)

    def env(self) -> dict:
        env = dict(os.environ)
        env.update(
            JUPYTER_CONFIG_DIR=str(self.base / "config"),
            JUPYTER_DATA_DIR=str(self.base / "data"),
            JUPYTER_RUNTIME_DIR=str(self.base / "runtime"),
            JUPYTER_PATH=str(self.base / "data"),  # our kernel spec first, before sys.prefix's
            IPYTHONDIR=str(self.base / "ipython"),
            JUPYTER_PLATFORM_DIRS="0",
            PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]),
            TF_CPP_MIN_LOG_LEVEL="2",
        )
        env.pop("JUPYTER_TOKEN", None)
        return env

    def write_config(self) -> None:
        # The kernel every notebook asks for ("python3"): exactly this Python, importing this checkout's package.
        kernel = {
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3 (ipykernel)",
            "language": "python",
            "env": {"PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"},
            "metadata": {"debugger": True},
        }
        (self.base / "data" / "kernels" / "python3" / "kernel.json").write_text(json.dumps(kernel, indent=1))
        # No "official Jupyter news?" toast over the notebook.
        page_config = {"disabledExtensions": {"@jupyterlab/apputils-extension:announcements": True}}
        (self.base / "config" / "labconfig" / "page_config.json").write_text(json.dumps(page_config))

    def start(self) -> None:
        self.write_config()
        command = [
            sys.executable, "-m", "jupyterlab", "--no-browser",
            "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}",
            "--ServerApp.allow_root=True",  # CI containers run as root; the server only listens on 127.0.0.1
            "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",  # no PyPI look-ups
        ]
        self._log = open(self.log_path, "w")
        self.process = subprocess.Popen(command, cwd=self.root, env=self.env(), stdout=self._log,
                                        stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + SERVER_START
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                status = self.api("status")
                if "started" in status:
                    return
            except (OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"jupyter lab did not answer within {SERVER_START} s:\n{self.log_tail()}")
            time.sleep(0.5)

    def api(self, path: str, method: str = "GET", timeout: float = 10):
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}/api/{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
        return json.loads(body) if body else {}

    def url(self, path: str) -> str:
        # ?reset: start from an empty workspace (no tabs restored from a previous page load)
        return f"http://127.0.0.1:{self.port}/{path}?reset&token={self.token}"

    def log_tail(self, n: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            try:  # the server's own shutdown also stops the kernels (they run in process groups of their own)
                self.api("shutdown", method="POST", timeout=5)
            except (OSError, ValueError, urllib.error.URLError):
                pass
            for sig, wait in ((None, 20), (signal.SIGTERM, 10), (signal.SIGKILL, 5)):
                if sig is not None:
                    try:
                        os.killpg(self.process.pid, sig)
                    except ProcessLookupError:
                        break
                try:
                    self.process.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        try:  # leftovers of the server's process group (it is ours alone: start_new_session)
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self._log.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def chromium_executable() -> str:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        _unavailable("playwright is not installed (it comes with the project's dev extra)")
    return chromium_path()


@pytest.fixture(scope="module")
def lab(chromium_executable, tmp_path_factory):
    server = Lab(tmp_path_factory.mktemp("jupyterlab"))
    try:
        server.start()
        yield server
    finally:
        server.stop()
        if server.log_path.exists():
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            shutil.copy(server.log_path, ARTIFACTS / "jupyterlab.log")


@pytest.fixture(scope="module")
def browser(chromium_executable):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=chromium_executable, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1400, "height": 1500})
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.console_messages_seen = []
    page.on("console", lambda m: page.console_messages_seen.append(f"{m.type}: {m.text}"))
    page.on("pageerror", lambda e: page.console_messages_seen.append(f"pageerror: {e}"))
    failed_before = request.session.testsfailed
    yield page
    if request.session.testsfailed > failed_before:  # the call phase's report is counted before teardown
        save_artifacts(page, request.node.name)
    context.close()


def save_artifacts(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
    except Exception as e:  # noqa: BLE001 - best effort while reporting another failure
        print(f"no screenshot: {e}")
    try:
        outputs = cell_states(page)
        (ARTIFACTS / f"{name}-cells.json").write_text(json.dumps(outputs, indent=1))
    except Exception as e:  # noqa: BLE001
        print(f"no cell dump: {e}")
    (ARTIFACTS / f"{name}-console.txt").write_text("\n".join(page.console_messages_seen))
    print(f"browser test artifacts in {ARTIFACTS}")


# ---------------------------------------------------------------------------------------- driving the notebook


def prepare_notebook(source: Path, destination: Path, parameters: dict, extra_cells: list[str] = ()) -> dict:
    """A copy of ``source`` with ``parameters`` set in its parameters cell, no stored outputs, ``extra_cells`` added."""
    import nbformat

    nb = nbformat.read(source, as_version=4)
    param_cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(param_cells) == 1, f"{source.name}: expected one cell tagged 'parameters'"
    lines = param_cells[0].source.splitlines()
    for name, value in parameters.items():
        pattern = re.compile(rf"^{re.escape(name)}\s*=")
        hits = [i for i, line in enumerate(lines) if pattern.match(line)]
        assert hits, f"{source.name}: the parameters cell no longer assigns {name!r}"
        lines[hits[0]] = f"{name} = {value!r}"
    param_cells[0].source = "\n".join(lines)
    for text in extra_cells:
        nb.cells.append(nbformat.v4.new_code_cell(text))
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("execution", None)
        cell.metadata.pop("papermill", None)
    nb.metadata.pop("papermill", None)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nbformat.write(nb, destination)
    return nb


CELL_STATES_JS = """() => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  if (!panel) return null;
  const indicator = panel.querySelector('.jp-Notebook-ExecutionIndicator');
  return {
    kernel: indicator ? indicator.dataset.status : null,
    dirty: !!document.querySelector('.lm-TabBar-tab.lm-mod-current.jp-mod-dirty'),
    cells: [...panel.querySelectorAll('.jp-Notebook .jp-Cell')].map(cell => ({
      code: cell.classList.contains('jp-CodeCell'),
      prompt: cell.classList.contains('jp-CodeCell') ? cell.querySelector('.jp-InputPrompt').textContent.trim() : null,
      outputs: [...cell.querySelectorAll('.jp-OutputArea-output')].map(o => ({
        mime: o.dataset.mimeType || '',
        text: (o.textContent || '').slice(0, 4000),
        images: [...o.querySelectorAll('img')].map(img => ({
          complete: img.complete, width: img.naturalWidth, height: img.naturalHeight,
          shownWidth: img.getBoundingClientRect().width, shownHeight: img.getBoundingClientRect().height,
        })),
      })),
    })),
  };
}"""


def cell_states(page) -> dict | None:
    return page.evaluate(CELL_STATES_JS)


def open_notebook(page, lab: Lab, name: str, n_cells: int) -> None:
    """Open ``name`` in JupyterLab and wait until its kernel is idle and all of its cells are in the page."""
    page.goto(lab.url(f"lab/tree/{name}"), timeout=PAGE_LOAD * 1000)
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell", timeout=PAGE_LOAD * 1000)
    deadline = time.monotonic() + KERNEL_READY
    idle_since = None
    while True:
        state = cell_states(page)
        sessions = [s for s in lab.api("sessions") if s.get("path", "").endswith(name)]
        ready = (state and state["kernel"] == "idle" and len(sessions) == 1
                 and sessions[0]["kernel"]["execution_state"] == "idle")
        if ready:
            idle_since = idle_since or time.monotonic()
            if time.monotonic() - idle_since > 2:  # steadily idle: the session will not switch kernels any more
                break
        else:
            idle_since = None
        if time.monotonic() > deadline:
            raise AssertionError(f"the kernel of {name} was not idle within {KERNEL_READY} s "
                                 f"(page: {state and state['kernel']}, sessions: {sessions})\n{lab.log_tail()}")
        time.sleep(0.5)
    assert len(state["cells"]) == n_cells, (
        f"{len(state['cells'])} cells in the page, {n_cells} in {name}: JupyterLab did not render every cell")


def run_all_cells(page) -> None:
    """Run > Run All Cells, through the menu bar as a user would."""
    page.locator(".jp-NotebookPanel .jp-Notebook").first.click(position={"x": 5, "y": 5})
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()


def wait_for_run(page, timeout: float = RUN_ALL) -> dict:
    """Wait until the run is over: every code cell has a count, or it stopped at an error; kernel idle, none queued."""
    deadline = time.monotonic() + timeout
    stalled_since = None
    while True:
        state = cell_states(page)
        prompts = [c["prompt"] for c in state["cells"] if c["code"]]
        queued = any(p == "[*]:" for p in prompts)
        counted = all(re.fullmatch(r"\[\d+\]:", p) for p in prompts)
        if state["kernel"] == "idle" and not queued:
            if counted or errors_in_page(state):
                return state
            stalled_since = stalled_since or time.monotonic()
            if time.monotonic() - stalled_since > STALL:
                return state  # the caller reports the cells that never ran
        else:
            stalled_since = None
        if time.monotonic() > deadline:
            raise AssertionError(f"Run All Cells did not finish within {timeout} s; prompts: {prompts}")
        time.sleep(1)


def errors_in_page(state: dict) -> list[tuple[int, str]]:
    """(cell index, text) of every rendered error. JupyterLab renders an ``error`` output as stderr text holding the
    traceback, so plain stderr (warnings, progress) is told apart by the traceback's form."""
    found = []
    for i, cell in enumerate(state["cells"]):
        for output in cell["outputs"]:
            if output["mime"] == "application/vnd.jupyter.error" or (
                    output["mime"] == "application/vnd.jupyter.stderr" and TRACEBACK.search(output["text"])):
                found.append((i, output["text"][-1500:]))
    return found


def save_and_read(page, path: Path) -> dict:
    """Ctrl+S in the page, then the notebook file as the browser saved it (its own model of cells and outputs)."""
    import nbformat

    before = path.stat().st_mtime_ns
    page.locator(".jp-NotebookPanel .jp-Notebook").first.click(position={"x": 5, "y": 5})
    page.keyboard.press("Control+s")
    deadline = time.monotonic() + 60
    while path.stat().st_mtime_ns == before or cell_states(page)["dirty"]:
        if time.monotonic() > deadline:
            raise AssertionError(f"{path.name} was not saved within 60 s of Ctrl+S")
        time.sleep(0.5)
    return nbformat.read(path, as_version=4)


def saved_errors(nb) -> list[tuple[int, str]]:
    return [(i, f"{o.get('ename')}: {o.get('evalue')}") for i, c in enumerate(nb.cells) if c.cell_type == "code"
            for o in c.get("outputs", []) if o.get("output_type") == "error"]


# --------------------------------------------------------------------------------------------------------- tests


def test_01_data_runs_in_jupyterlab(lab, page, tmp_path_factory):
    from toyrobot_utils.synthetic import default_data

    work = tmp_path_factory.mktemp("toyrobot")
    default_data.generate(work / "data", seed=0, counts=DATA_COUNTS)
    check_kernel = (
        "import sys, toyrobot_utils\n"
        f"print('{KERNEL_MARKER}', sys.prefix, toyrobot_utils.__file__, sep='|')"
    )
    nb = prepare_notebook(NOTEBOOK, lab.root / NOTEBOOK.name, {
        "data_dir": str(work / "data"), "models_dir": str(work / "models"), "figures_dir": str(work / "figures"),
    }, extra_cells=[check_kernel])
    collage = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and "sample_grid(" in c.source]
    assert len(collage) == 1, "01_data should draw its sample collage in one cell (plots.sample_grid)"
    collage = collage[0]

    started = time.monotonic()
    open_notebook(page, lab, NOTEBOOK.name, len(nb.cells))
    run_all_cells(page)
    state = wait_for_run(page)
    ran_in = time.monotonic() - started

    errors = errors_in_page(state)
    assert not errors, "cells raised in JupyterLab:\n" + "\n\n".join(f"cell {i}:\n{t}" for i, t in errors)
    not_run = [i for i, c in enumerate(state["cells"]) if c["code"] and not re.fullmatch(r"\[\d+\]:", c["prompt"])]
    assert not not_run, f"cells without an execution count after Run All Cells: {not_run}"

    # The kernel was this Python, importing this checkout's toyrobot_utils.
    marker = [o["text"] for o in state["cells"][-1]["outputs"] if KERNEL_MARKER in o["text"]]
    assert marker, f"the kernel check printed nothing: {state['cells'][-1]}"
    _, prefix, package = marker[0].strip().split("|")
    assert Path(prefix).resolve() == Path(sys.prefix).resolve(), f"kernel ran {prefix}, expected {sys.prefix}"
    assert Path(package).resolve().is_relative_to(ROOT), f"kernel imported {package}, not the package in {ROOT}"

    # The collage: an image output the browser decoded and shows at a visible size.
    image_output = page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").nth(collage).locator(
        ".jp-OutputArea-output[data-mime-type^='image/'] img")
    assert image_output.count() == 1, f"cell {collage} shows no image output: {state['cells'][collage]['outputs']}"
    image_output.scroll_into_view_if_needed()
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image_output.element_handle(),
                           timeout=30_000)
    info = image_output.evaluate("img => ({w: img.naturalWidth, h: img.naturalHeight, src: img.src.slice(0, 22),"
                                 " shown: img.getBoundingClientRect().width})")
    assert info["w"] >= 300 and info["h"] >= 300, f"the collage decoded to a suspiciously small image: {info}"
    assert info["shown"] >= 200, f"the collage is not displayed at a visible size: {info}"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    image_output.screenshot(path=str(ARTIFACTS / "01_data-collage.png"))

    # What the browser's notebook model holds, saved to disk: no error output, every code cell executed.
    saved = save_and_read(page, lab.root / NOTEBOOK.name)
    assert not saved_errors(saved), f"error outputs in the saved notebook: {saved_errors(saved)}"
    counts = [c.execution_count for c in saved.cells if c.cell_type == "code"]
    assert all(isinstance(n, int) for n in counts), f"execution counts in the saved notebook: {counts}"
    mimes = {k for o in saved.cells[collage].outputs for k in o.get("data", {})}
    assert mimes & {"image/png", "image/jpeg"}, f"the saved collage output has no image: {mimes}"
    print(f"01_data: opened, ran and checked in {ran_in:.0f} s; collage {info['w']}x{info['h']} {info['src']}")


def test_planted_error_is_detected(lab, page):
    """The detection above, on a notebook whose second cell raises: the error must be seen, the third cell not run."""
    import nbformat

    nb = nbformat.v4.new_notebook()
    warn = "import sys\nprint('fine')\nprint('a warning, not an error', file=sys.stderr)"
    nb.cells = [nbformat.v4.new_code_cell(warn),
                nbformat.v4.new_code_cell("raise RuntimeError('planted failure')"),
                nbformat.v4.new_code_cell("print('never reached')")]
    path = lab.root / "planted_error.ipynb"
    prepare_notebook_from(nb, path)
    open_notebook(page, lab, path.name, 3)
    run_all_cells(page)
    state = wait_for_run(page, timeout=180)
    errors = errors_in_page(state)
    assert [i for i, _ in errors] == [1], f"expected exactly the planted error in cell 1, found {errors}"
    assert "RuntimeError" in errors[0][1] and "planted failure" in errors[0][1]
    assert re.fullmatch(r"\[\d+\]:", state["cells"][0]["prompt"]) and state["cells"][2]["prompt"] == "[ ]:"
    saved = save_and_read(page, path)
    assert saved_errors(saved) == [(1, "RuntimeError: planted failure")]


def prepare_notebook_from(nb, path: Path) -> None:
    import nbformat

    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
    nbformat.write(nb, path)
