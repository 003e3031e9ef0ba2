"""A student's JupyterLab in a temporary home, and the Chromium that drives it through Playwright.

``student_home`` lays out the home (notebooks, nbgrader's student config, lab settings) and the
environment the server runs in; ``LabServer`` runs ``jupyter lab`` from this environment and stops it
with its kernels; ``chromium`` finds the browser and ``launch_chromium`` starts it headless; the functions
at the end drive the lab page (open a notebook, use the menus, wait for a run to end).
"""
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil

from autograder.grading.course import student_config

BIN = Path(sys.executable).parent
CHROMIUM_ENV = "BATCHNORM_CHROMIUM"
DEFAULT_CHROMIUM = "/usr/bin/chromium"
# headless Chromium on a machine without network: no sandbox (root), no GPU, and none of the background
# connections (updates, sync, QUIC) that a closed network refuses
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# lab settings of the student: no news or update checks (network), no toasts over the screenshots
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
}


def chromium():
    """(path, None) of the Chromium to use, or (None, why not); $BATCHNORM_CHROMIUM overrides the default."""
    path = os.environ.get(CHROMIUM_ENV) or DEFAULT_CHROMIUM
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        return None, (f"no Chromium at {path}: install Debian's chromium (apt-get install chromium) "
                      f"or set {CHROMIUM_ENV} to run the browser test")
    return path, None


def launch_chromium(playwright, path, profile_dir):
    """A headless Chromium context at ``path`` with the fresh, empty profile ``profile_dir``."""
    Path(profile_dir).mkdir(parents=True, exist_ok=False)
    return playwright.chromium.launch_persistent_context(
        str(profile_dir), executable_path=str(path), headless=True, args=CHROMIUM_ARGS,
        viewport={"width": 1400, "height": 900}, timeout=60_000)


def launch_failure(error):
    """The lines of a Playwright launch error that say why Chromium did not start."""
    lines = [line.strip(" -") for line in str(error).strip().splitlines()]
    why = [line for line in lines[1:] if "[err]" in line or "process did exit" in line]
    return "; ".join(lines[:1] + why[-6:])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def student_home(tmp, exchange):
    """Folders and environment of a student whose lab reads nothing of the real user's configuration.

    tmp: an empty folder; gets home/ (the lab's root), jupyter/{config,data,runtime}/ and mpl/.
    exchange: nbgrader's exchange root, named in the student's nbgrader_config.py (with this course's id).
    Returns (home, env). The lab extensions of this environment (sys.prefix) are still found.
    """
    tmp = Path(tmp)
    home, config, data, runtime, mpl = (tmp / "home", tmp / "jupyter" / "config", tmp / "jupyter" / "data",
                                        tmp / "jupyter" / "runtime", tmp / "mpl")
    for d in (home / "downloads", config, data, runtime, mpl):
        d.mkdir(parents=True, exist_ok=True)
    # the hub's student config, and fetched assignments in downloads/, apart from the worked copies beside it
    (config / "nbgrader_config.py").write_text(
        student_config(exchange) + f"c.Exchange.assignment_dir = {str(home / 'downloads')!r}\n")
    for plugin, values in LAB_SETTINGS.items():
        package, name = plugin.rsplit("/", 1)
        target = config / "lab" / "user-settings" / package / f"{name}.jupyterlab-settings"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(values))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "JPY_", "IPYTHON", "MPL"))}
    env.update(HOME=str(home), JUPYTER_CONFIG_DIR=str(config), JUPYTER_DATA_DIR=str(data),
               JUPYTER_RUNTIME_DIR=str(runtime), MPLCONFIGDIR=str(mpl), PYDEVD_DISABLE_FILE_VALIDATION="1",
               PATH=os.pathsep.join([str(BIN), os.environ.get("PATH", "")]))
    return home, env


class LabServer:
    """``jupyter lab`` from this environment on a free loopback port; ``stop`` ends it and its kernels."""

    def __init__(self, home, env, log_path):
        self.home, self.env, self.log_path = Path(home), env, Path(log_path)
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = None

    def start(self, timeout=90):
        args = [str(BIN / "jupyter"), "lab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--port={self.port}",
                "--ServerApp.port_retries=0", f"--IdentityProvider.token={self.token}",
                f"--ServerApp.root_dir={self.home}", "--LabApp.expose_app_in_browser=True"]
        if os.geteuid() == 0:
            args.append("--allow-root")
        self.log = open(self.log_path, "w")
        self.proc = subprocess.Popen(args, cwd=self.home, env=self.env, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(self.api("status"), timeout=5) as r:
                    if r.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"jupyter lab did not answer within {timeout} s:\n{self.log_tail()}")
            time.sleep(0.2)

    def api(self, path):
        return f"{self.url}/api/{path}?token={self.token}"

    def lab_url(self, path=""):
        return f"{self.url}/lab{path}?token={self.token}"

    def log_tail(self, chars=4000):
        self.log.flush()
        return self.log_path.read_text(errors="replace")[-chars:]

    def stop(self, timeout=15):
        """Ask the server to shut down (it ends its kernels), then end what is left of it by process id."""
        if self.proc is None:
            return
        try:
            started = psutil.Process(self.proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            started = []
        if self.proc.poll() is None:
            try:
                urllib.request.urlopen(urllib.request.Request(self.api("shutdown"), method="POST"), timeout=5)
            except (urllib.error.URLError, OSError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for p in started:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
        psutil.wait_procs(started, timeout=5)
        self.log.close()
        self.proc = None


# --- driving the lab page (JupyterLab 4 with ``expose_app_in_browser``: window.jupyterapp) ---

LAB_READY = "() => window.jupyterapp && !document.querySelector('#jupyterlab-splash')"
CURRENT_PATH = """p => { const w = window.jupyterapp.shell.currentWidget;
                       return !!w && !!w.context && w.context.path === p; }"""
KERNEL_IDLE = """() => { const w = window.jupyterapp.shell.currentWidget;
                        const k = w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel;
                        return !!k && k.status === 'idle' && k.connectionStatus === 'connected'; }"""
# the current notebook's run is over: its kernel is idle and every code cell ran, or a cell failed
# (Run All stops at an error); returns the indices of code cells without an execution count
RUN_OVER = """() => { const w = window.jupyterapp.shell.currentWidget;
                     const k = w.sessionContext.session && w.sessionContext.session.kernel;
                     if (!k || k.status !== 'idle') return null;
                     const cells = [...w.content.model.cells];
                     const outputs = c => [...Array(c.outputs.length).keys()].map(j => c.outputs.get(j).toJSON());
                     const notRun = cells.map((c, i) => [c, i]).filter(([c]) => c.type === 'code'
                         && !(typeof c.executionCount === 'number' && c.executionCount > 0)).map(([, i]) => i);
                     const failed = cells.some(c => c.type === 'code'
                                                    && outputs(c).some(o => o.output_type === 'error'));
                     return notRun.length === 0 || failed ? {notRun: notRun} : null; }"""
IMAGES_LOADED = """n => { const w = window.jupyterapp.shell.currentWidget;
                         const imgs = w.node.querySelectorAll('.jp-OutputArea-output img');
                         return imgs.length >= n && [...imgs].every(i => i.complete && i.naturalWidth > 0); }"""


def open_lab(page, server, timeout=90_000):
    page.goto(server.lab_url())
    page.wait_for_function(LAB_READY, timeout=timeout)
    page.wait_for_selector("#jp-menu-panel", timeout=timeout)


def open_notebook(page, path, timeout=90_000):
    """Open ``path`` (relative to the lab's root) and wait until its kernel is idle."""
    page.evaluate("async p => { await window.jupyterapp.commands.execute('docmanager:open', {path: p}); }", path)
    page.wait_for_function(CURRENT_PATH, arg=path, timeout=timeout)
    page.wait_for_function(KERNEL_IDLE, timeout=timeout)
    return page.locator(".jp-NotebookPanel:visible")


def menu(page, title, command):
    """Click menu-bar entry ``title``, then its item that runs ``command``."""
    page.locator("#jp-menu-panel").get_by_role("menuitem", name=title, exact=True).click()
    page.locator(f"li.lm-Menu-item[data-command='{command}']").click()


def run_all(page, timeout=180_000):
    """Run > Run All Cells on the current notebook; wait until the run is over.

    Returns the indices of the code cells left without an execution count (none when all ran).
    """
    menu(page, "Run", "runmenu:run-all")
    return page.wait_for_function(RUN_OVER, timeout=timeout).json_value()["notRun"]


def close_dialogs(page):
    """Press the accept button of every open dialog; wait until none is left."""
    dialogs = page.locator(".jp-Dialog")
    for button in dialogs.locator(".jp-Dialog-button.jp-mod-accept").all():
        button.click()
    page.wait_for_function("() => !document.querySelector('.jp-Dialog')", timeout=10_000)


def scroll_to_first_figure(page):
    """Scroll the current notebook to the first cell with an image/png output (none: stay)."""
    page.evaluate("""async () => {
        const nb = window.jupyterapp.shell.currentWidget.content;
        const cells = [...nb.model.cells];
        const png = c => c.type === 'code' && [...Array(c.outputs.length).keys()]
            .some(j => 'image/png' in (c.outputs.get(j).data || {}));
        const i = cells.findIndex(png);
        if (i >= 0) { nb.activeCellIndex = i; await nb.scrollToItem(i, 'start'); }
    }""")
