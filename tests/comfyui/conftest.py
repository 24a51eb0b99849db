"""Integration tests against a real ComfyUI server.

Finding ComfyUI (the way a user's install would be found):
  1. env COMFYUI_PATH=/path/to/ComfyUI;
  2. else, if this pack's folder sits directly in some <X>/custom_nodes/, then <X>.
If neither gives a folder with main.py, every test here is skipped.

The Python that runs ComfyUI: env COMFYUI_PYTHON, else <ComfyUI>/venv/bin/python or
<ComfyUI>/.venv/bin/python, else this interpreter; it must `import torch, aiohttp`.

One server per session (`comfyui_server`), started with --cpu on a free 127.0.0.1 port and a scratch
--base-directory whose custom_nodes/ links this pack and tests/comfyui/testing_pack, and whose models/
holds tiny random Wan2.1 weights written by make_tiny_weights.py. The test process only talks HTTP and
reads files; it never imports ComfyUI.

    COMFYUI_PATH=/work/comfy/ComfyUI COMFYUI_PYTHON=/work/comfyvenv/bin/python python -m pytest -q tests/comfyui
"""
import atexit
import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

HERE = Path(os.path.abspath(__file__)).parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from comfyui_client import ComfyClient, Graph  # noqa: E402

REPO_ROOT = HERE.parent.parent
TESTING_PACK = HERE / "testing_pack"
WEIGHTS_SCRIPT = HERE / "make_tiny_weights.py"


def pack_dirname():
    """Folder name of the pack in custom_nodes/: env RECO_PACK_DIRNAME, else pyproject's [project].name (what a
    registry install uses), else "ComfyUI-ReCo"."""
    if os.environ.get("RECO_PACK_DIRNAME"):
        return os.environ["RECO_PACK_DIRNAME"]
    try:
        import tomllib

        with open(REPO_ROOT / "pyproject.toml", "rb") as f:
            name = tomllib.load(f).get("project", {}).get("name")
        if name:
            return name
    except (ImportError, OSError, ValueError):
        pass
    return "ComfyUI-ReCo"


PACK_DIRNAME = pack_dirname()
TESTING_PACK_DIRNAME = "reco_testing_pack"
START_TIMEOUT = float(os.environ.get("COMFYUI_START_TIMEOUT", "240"))

HOW_TO = ("point the tests at a ComfyUI checkout: COMFYUI_PATH=/path/to/ComfyUI "
          "[COMFYUI_PYTHON=/path/to/its/venv/bin/python] python -m pytest tests/comfyui, "
          "or place this pack in <ComfyUI>/custom_nodes/")


@dataclasses.dataclass(frozen=True)
class ComfyEnv:
    comfy_dir: Path
    python: str
    found_by: str


@dataclasses.dataclass
class ComfyServer:
    url: str
    port: int
    pid: int
    comfy_dir: Path
    python: str
    base_dir: Path
    log_path: Path
    models: dict            # name ("vace", "t2v", "vae", "lora") -> {"folder", "file", "path", "params"}
    pack_link: Path         # custom_nodes/<PACK_DIRNAME> -> the repo root
    testing_pack_link: Path

    @property
    def input_dir(self):
        return self.base_dir / "input"

    @property
    def output_dir(self):
        return self.base_dir / "output"

    @property
    def pack_module(self):
        """The python_module that /object_info reports for the pack's nodes."""
        return f"custom_nodes.{self.pack_link.name}"

    def log_text(self):
        return self.log_path.read_text(errors="replace")

    def pack_import_failed(self):
        """True if ComfyUI reported "(IMPORT FAILED)" for the pack (e.g. no __init__.py yet)."""
        return any("IMPORT FAILED" in line and line.rstrip().endswith(str(self.pack_link))
                   for line in self.log_text().splitlines())


def find_comfyui():
    """(ComfyUI dir, how it was found) or (None, reason)."""
    env = os.environ.get("COMFYUI_PATH")
    if env:
        path = Path(env).expanduser().absolute()
        if not (path / "main.py").is_file():
            return None, f"COMFYUI_PATH={env} has no main.py; {HOW_TO}"
        return path, "COMFYUI_PATH"
    for root in pack_locations():
        if root.parent.name == "custom_nodes" and (root.parent.parent / "main.py").is_file():
            return root.parent.parent, f"pack folder {root} is in {root.parent}"
    return None, f"no ComfyUI found (COMFYUI_PATH is not set and {REPO_ROOT} is not in a custom_nodes/ folder); {HOW_TO}"


def pack_locations():
    """Paths by which this pack's folder is reached: as imported, resolved, and (when the pack is a symlink in
    custom_nodes/ and pytest runs from inside it) the logical working directory's matching ancestor."""
    found = [REPO_ROOT, REPO_ROOT.resolve()]
    logical = os.environ.get("PWD")
    if logical:
        for ancestor in [Path(logical), *Path(logical).parents]:
            try:
                if ancestor.resolve() == REPO_ROOT.resolve():
                    found.append(ancestor)
                    break
            except OSError:
                break
    return found


def find_python(comfy_dir):
    env = os.environ.get("COMFYUI_PYTHON")
    if env:
        return env
    for candidate in ("venv/bin/python", ".venv/bin/python", "venv/Scripts/python.exe", ".venv/Scripts/python.exe"):
        if (comfy_dir / candidate).exists():
            return str(comfy_dir / candidate)
    return sys.executable


def python_problem(python):
    """None if `python` can import torch and aiohttp, else a short description."""
    try:
        proc = subprocess.run([python, "-c", "import torch, aiohttp"], capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as err:
        return str(err)
    if proc.returncode != 0:
        lines = proc.stderr.strip().splitlines()
        return lines[-1] if lines else f"exit code {proc.returncode}"
    return None


@pytest.fixture(scope="session")
def comfyui_env():
    """Where ComfyUI and its Python are; skips the requesting test when there is none."""
    comfy_dir, how = find_comfyui()
    if comfy_dir is None:
        pytest.skip(how)
    python = find_python(comfy_dir)
    problem = python_problem(python)
    if problem:
        pytest.skip(f"the Python for ComfyUI ({python}) cannot `import torch, aiohttp`: {problem}; "
                    f"set COMFYUI_PYTHON=/path/to/ComfyUI/venv/bin/python")
    return ComfyEnv(comfy_dir, python, how)


@pytest.fixture(autouse=True)
def _require_comfyui(comfyui_env):
    """Every test in tests/comfyui is skipped (with the reason) when no ComfyUI is found."""


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_base_dir(base):
    for sub in ("custom_nodes", "models/diffusion_models", "models/vae", "models/loras", "models/text_encoders",
                "input", "output", "temp", "user/default"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    # A fresh user dir would make the frontend open the template dialog; harmless for API tests.
    (base / "user/default/comfy.settings.json").write_text(json.dumps({"Comfy.TutorialCompleted": True}))
    pack_link = base / "custom_nodes" / PACK_DIRNAME
    testing_link = base / "custom_nodes" / TESTING_PACK_DIRNAME
    pack_link.symlink_to(REPO_ROOT.resolve(), target_is_directory=True)
    testing_link.symlink_to(TESTING_PACK.resolve(), target_is_directory=True)
    return pack_link, testing_link


def stop_process(proc, grace=15.0):
    """SIGTERM the process by its PID, then SIGKILL if it has not exited after `grace` seconds."""
    if proc.poll() is not None:
        return
    try:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=grace)
    except ProcessLookupError:
        pass


def log_tail(path, lines=150):
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError as err:
        return f"(no log: {err})"


def wait_until_ready(proc, url, log_path, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"ComfyUI exited with code {proc.returncode} during startup; log tail:\n"
                        f"{log_tail(log_path)}", pytrace=False)
        try:
            with urllib.request.urlopen(url + "/system_stats", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    pytest.fail(f"ComfyUI did not answer {url}/system_stats within {timeout:.0f}s; log tail:\n"
                f"{log_tail(log_path)}", pytrace=False)


@pytest.fixture(scope="session")
def comfyui_server(comfyui_env, tmp_path_factory):
    """Start one ComfyUI for the session (weights are written while it boots); stop it by PID at the end."""
    base = tmp_path_factory.mktemp("comfyui_base")
    pack_link, testing_link = make_base_dir(base)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = base / "comfyui.log"
    env = dict(os.environ, PYTHONUNBUFFERED="1")

    weights_log = base / "make_tiny_weights.log"
    with open(weights_log, "w") as weights_err:
        weights = subprocess.Popen(
            [comfyui_env.python, str(WEIGHTS_SCRIPT), "--comfyui", str(comfyui_env.comfy_dir),
             "--models", str(base / "models")],
            cwd=str(comfyui_env.comfy_dir), stdout=subprocess.PIPE, stderr=weights_err, text=True, env=env)
    cmd = [comfyui_env.python, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(port),
           "--disable-auto-launch", "--base-directory", str(base), "--database-url", "sqlite:///:memory:",
           "--disable-api-nodes", "--preview-method", "none"]
    with open(log_path, "w") as log:
        log.write("$ " + " ".join(cmd) + "\n")
        log.flush()
        server = subprocess.Popen(cmd, cwd=str(comfyui_env.comfy_dir), stdout=log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, env=env)
    atexit.register(stop_process, server, 5.0)  # safety net if the session dies before the finalizer
    try:
        try:
            out, _ = weights.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            stop_process(weights)
            out = ""
        if weights.returncode != 0:
            pytest.fail(f"make_tiny_weights.py failed (exit {weights.returncode}):\n{log_tail(weights_log)}",
                        pytrace=False)
        models = json.loads(out)
        wait_until_ready(server, url, log_path, START_TIMEOUT)
        yield ComfyServer(url=url, port=port, pid=server.pid, comfy_dir=comfyui_env.comfy_dir,
                          python=comfyui_env.python, base_dir=base, log_path=log_path, models=models,
                          pack_link=pack_link, testing_pack_link=testing_link)
    finally:
        stop_process(weights)
        stop_process(server)
        shutil.rmtree(base / "models", ignore_errors=True)  # 260 MB of random weights; logs and outputs stay


@pytest.fixture(scope="session")
def comfy(comfyui_server):
    """ComfyClient bound to the session server: run_prompt, submit, wait, interrupt, object_info, output_path,
    output_files, saved_tensors, queue, free."""
    return ComfyClient(comfyui_server.url, str(comfyui_server.base_dir))


@pytest.fixture(scope="session")
def tiny_models(comfyui_server):
    """File names to use in prompts: {"vace": ..., "t2v": ... (diffusion_models), "vae": ..., "lora": ...}."""
    return {name: info["file"] for name, info in comfyui_server.models.items()}


@pytest.fixture
def graph():
    """A fresh Graph (API-prompt builder)."""
    return Graph()
