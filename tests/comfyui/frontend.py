"""A small headless-Chromium driver over the DevTools protocol, standard library only.

Chromium is started with --remote-debugging-pipe: the protocol runs over two pipes (fd 3 for commands,
fd 4 for replies, messages separated by NUL bytes), so no port is opened and no WebSocket client is needed.

    with Browser.launch(find_chromium()) as browser:
        page = browser.new_page(width=1600, height=1000)
        page.navigate("http://127.0.0.1:8188/")
        page.wait_for("!!(window.app && window.app.graph)")
        print(page.evaluate("window.__COMFYUI_FRONTEND_VERSION__"))
        page.screenshot("shot.png")
        print(page.problems())      # console errors, uncaught exceptions, failed requests

Used by tests/comfyui/test_workflows.py and scripts/make_workflows.py (thumbnails).
"""
from __future__ import annotations

import base64
import fcntl
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-extensions",
    "--disable-default-apps", "--mute-audio", "--hide-scrollbars", "--disable-dev-shm-usage",
)


def find_chromium():
    """Path of a Chromium/Chrome binary: env CHROME_PATH, else the first of CHROMIUM_NAMES on PATH; or None."""
    env = os.environ.get("CHROME_PATH")
    if env:
        return env if os.path.isfile(env) and os.access(env, os.X_OK) else shutil.which(env)
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


class DevToolsError(RuntimeError):
    """A protocol command failed, timed out, or the browser went away."""


class JavaScriptError(DevToolsError):
    """Page-side code threw; `details` is the protocol's exceptionDetails."""

    def __init__(self, details):
        self.details = details
        exc = details.get("exception") or {}
        super().__init__(exc.get("description") or details.get("text") or json.dumps(details)[:500])


class Browser:
    """One Chromium process driven over --remote-debugging-pipe. Close it with close() (or use `with`)."""

    def __init__(self, proc, write_fd, read_fd, profile_dir, owns_profile, timeout):
        self.proc = proc
        self.profile_dir = profile_dir
        self._owns_profile = owns_profile
        self.timeout = timeout
        self._to_browser = os.fdopen(write_fd, "wb", buffering=0)
        self._from_browser = os.fdopen(read_fd, "rb", buffering=0)
        self._next_id = 0
        self._lock = threading.Lock()
        self._pending: dict[int, queue.Queue] = {}
        self._listeners: dict[str | None, list] = {}
        self._closed = False
        self._reader = threading.Thread(target=self._read_loop, name="devtools-pipe", daemon=True)
        self._reader.start()

    @classmethod
    def launch(cls, binary, profile_dir=None, timeout=30.0, extra_flags=()):
        """Start `binary` headless with a fresh profile (a temporary one unless `profile_dir` is given)."""
        owns = profile_dir is None
        profile_dir = profile_dir or tempfile.mkdtemp(prefix="reco-chromium-")
        cmd_read, cmd_write = os.pipe()
        reply_read, reply_write = os.pipe()

        def child_fds():
            # The browser reads commands on fd 3 and writes replies on fd 4. Move both ends above 4 first so
            # that neither dup2 overwrites the other.
            high_in = fcntl.fcntl(cmd_read, fcntl.F_DUPFD, 10)
            high_out = fcntl.fcntl(reply_write, fcntl.F_DUPFD, 10)
            os.dup2(high_in, 3)
            os.dup2(high_out, 4)

        args = [binary, *CHROMIUM_FLAGS, *extra_flags, f"--user-data-dir={profile_dir}",
                "--remote-debugging-pipe", "about:blank"]
        try:
            proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, preexec_fn=child_fds, pass_fds=(3, 4))
        except OSError:
            for fd in (cmd_write, reply_read):
                os.close(fd)
            if owns:
                shutil.rmtree(profile_dir, ignore_errors=True)
            raise
        finally:
            os.close(cmd_read)
            os.close(reply_write)
        browser = cls(proc, cmd_write, reply_read, profile_dir, owns, timeout)
        try:
            browser.call("Browser.getVersion")  # fails fast if the pipe does not work
        except DevToolsError:
            browser.close()
            raise
        return browser

    # --- protocol -----------------------------------------------------------------------------
    def _read_loop(self):
        buffer = b""
        while True:
            try:
                chunk = self._from_browser.read(1 << 16)
            except (OSError, ValueError):
                chunk = b""
            if not chunk:
                break
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            for raw in messages:
                if raw:
                    self._dispatch(json.loads(raw))
        self._closed = True
        with self._lock:
            for waiter in self._pending.values():
                waiter.put({"error": {"message": "the browser closed the DevTools pipe"}})

    def _dispatch(self, message):
        if "id" in message:
            with self._lock:
                waiter = self._pending.pop(message["id"], None)
            if waiter is not None:
                waiter.put(message)
            return
        for callback in list(self._listeners.get(message.get("sessionId"), [])):
            callback(message["method"], message.get("params", {}))

    def add_listener(self, session_id, callback):
        """callback(method, params) for every event of a session (None: the browser's own events)."""
        self._listeners.setdefault(session_id, []).append(callback)

    def call(self, method, params=None, session_id=None, timeout=None):
        """Send one command and return its result dict; raises DevToolsError on an error or timeout."""
        if self._closed:
            raise DevToolsError(f"{method}: the browser is closed")
        waiter: queue.Queue = queue.Queue(maxsize=1)
        with self._lock:
            self._next_id += 1
            message_id = self._next_id
            self._pending[message_id] = waiter
        message = {"id": message_id, "method": method, "params": params or {}}
        if session_id:
            message["sessionId"] = session_id
        try:
            self._to_browser.write(json.dumps(message).encode("utf-8") + b"\0")
        except OSError as err:
            raise DevToolsError(f"{method}: cannot write to the browser: {err}") from err
        try:
            reply = waiter.get(timeout=timeout or self.timeout)
        except queue.Empty:
            with self._lock:
                self._pending.pop(message_id, None)
            raise DevToolsError(f"{method}: no reply within {timeout or self.timeout:.0f}s") from None
        if "error" in reply:
            raise DevToolsError(f"{method}: {reply['error'].get('message')} {reply['error'].get('data', '')}")
        return reply.get("result", {})

    # --- pages --------------------------------------------------------------------------------
    def new_page(self, width=1600, height=1000, scale=1.0):
        """A new tab with a fixed viewport, its console and network problems recorded."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        return Page(self, target, session, width, height, scale)

    def close(self):
        """Close the browser (politely, then by its PID) and remove a temporary profile."""
        if self.proc.poll() is None:
            try:
                self.call("Browser.close", timeout=5)
            except DevToolsError:
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        for stream in (self._to_browser, self._from_browser):
            try:
                stream.close()
            except OSError:
                pass
        if self._owns_profile:
            shutil.rmtree(self.profile_dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class Page:
    """One tab. `messages` records console output, uncaught exceptions, log entries and failed requests."""

    def __init__(self, browser, target_id, session_id, width, height, scale):
        self.browser, self.target_id, self.session_id = browser, target_id, session_id
        self.messages: list[dict] = []
        self._requests: dict[str, str] = {}
        browser.add_listener(session_id, self._on_event)
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable")
        self.set_viewport(width, height, scale)

    def call(self, method, params=None, timeout=None):
        return self.browser.call(method, params, session_id=self.session_id, timeout=timeout)

    def _on_event(self, method, params):
        if method == "Runtime.consoleAPICalled":
            frame = (params.get("stackTrace") or {}).get("callFrames") or [{}]
            text = " ".join(_remote_text(arg) for arg in params.get("args", []))
            self.messages.append({"kind": "console", "level": params.get("type"), "text": text,
                                  "url": frame[0].get("url", "")})
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            exc = details.get("exception") or {}
            self.messages.append({"kind": "exception", "level": "error",
                                  "text": exc.get("description") or details.get("text", ""),
                                  "url": details.get("url", "")})
        elif method == "Log.entryAdded":
            entry = params.get("entry", {})
            self.messages.append({"kind": "log", "level": entry.get("level"), "text": entry.get("text", ""),
                                  "url": entry.get("url", "")})
        elif method == "Network.requestWillBeSent":
            self._requests[params["requestId"]] = params["request"]["url"]
        elif method == "Network.responseReceived":
            response = params.get("response", {})
            if response.get("status", 0) >= 400:
                self.messages.append({"kind": "http", "level": "error",
                                      "text": f"HTTP {response['status']} {response.get('url', '')}",
                                      "url": response.get("url", "")})
        elif method == "Network.loadingFailed" and not params.get("canceled"):
            url = self._requests.get(params.get("requestId"), "")
            self.messages.append({"kind": "network", "level": "error",
                                  "text": f"{params.get('errorText')} {url}", "url": url})

    def problems(self, levels=("error",)):
        """Recorded messages at the given levels (errors by default)."""
        return [m for m in self.messages if m["level"] in levels]

    def set_viewport(self, width, height, scale=1.0):
        self.width, self.height, self.scale = width, height, scale
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": scale, "mobile": False})

    def navigate(self, url, timeout=None):
        """Open `url` and wait for its load event."""
        loaded = threading.Event()

        def on_load(method, _params):
            if method == "Page.loadEventFired":
                loaded.set()

        self.browser.add_listener(self.session_id, on_load)
        try:
            result = self.call("Page.navigate", {"url": url})
            if result.get("errorText"):
                raise DevToolsError(f"navigate {url}: {result['errorText']}")
            if not loaded.wait(timeout or self.browser.timeout):
                raise DevToolsError(f"navigate {url}: no load event")
        finally:
            self.browser._listeners[self.session_id].remove(on_load)

    def evaluate(self, expression, await_promise=True, timeout=None):
        """Evaluate JavaScript and return its value (JSON-serialisable results only)."""
        result = self.call("Runtime.evaluate", {"expression": expression, "awaitPromise": await_promise,
                                                "returnByValue": True}, timeout=timeout)
        if "exceptionDetails" in result:
            raise JavaScriptError(result["exceptionDetails"])
        return result.get("result", {}).get("value")

    def wait_for(self, expression, timeout=60.0, interval=0.25):
        """Poll until `expression` is truthy; return its value. Raises TimeoutError."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                value = self.evaluate(expression)
            except JavaScriptError:
                value = None
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"still false after {timeout:.0f}s: {expression}")
            time.sleep(interval)

    def screenshot(self, path=None, clip=None, fmt="png", quality=None):
        """Capture the viewport, or `clip` = (x, y, width, height[, scale]) in CSS pixels; return the bytes and
        write them to `path` if given. fmt is "png" or "jpeg" (with quality 0-100)."""
        params = {"format": fmt, "captureBeyondViewport": False}
        if quality is not None:
            params["quality"] = int(quality)
        if clip is not None:
            x, y, w, h, *rest = clip
            params["clip"] = {"x": x, "y": y, "width": w, "height": h, "scale": rest[0] if rest else 1}
        data = base64.b64decode(self.call("Page.captureScreenshot", params)["data"])
        if path:
            with open(path, "wb") as f:
                f.write(data)
        return data


def _remote_text(arg):
    """Readable text of one console argument (a Runtime.RemoteObject)."""
    if "value" in arg:
        value = arg["value"]
        return value if isinstance(value, str) else json.dumps(value)
    return arg.get("description") or arg.get("unserializableValue") or arg.get("type", "")
