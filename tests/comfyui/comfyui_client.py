"""Stdlib-only HTTP client for a running ComfyUI, and a small builder for API-format prompts.

Used by tests/comfyui/conftest.py; tests get these objects through the `comfy` and `graph` fixtures.
"""
import json
import math
import os
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid


class ComfyError(Exception):
    """Base class for errors reported by the ComfyUI server."""


class PromptValidationError(ComfyError):
    """POST /prompt answered 400: `error` is the error dict, `node_errors` maps node id -> {"errors": [...]}."""

    def __init__(self, error, node_errors):
        self.error = error or {}
        self.node_errors = node_errors or {}
        lines = [f"prompt rejected: {self.error.get('type')}: {self.error.get('message')} {self.error.get('details', '')}"]
        for node_id, info in self.node_errors.items():
            for err in info.get("errors", []):
                lines.append(f"  node {node_id} ({info.get('class_type')}): {err.get('type')}: "
                             f"{err.get('message')} - {err.get('details')}")
        super().__init__("\n".join(lines))


class PromptExecutionError(ComfyError):
    """The prompt ran and ended with status "error" (exception or interrupt). `entry` is the history entry."""

    def __init__(self, entry):
        self.entry = entry
        messages = entry.get("status", {}).get("messages", [])
        details = []
        for kind, data in messages:
            if kind == "execution_error":
                details.append(f"node {data.get('node_id')} ({data.get('node_type')}): "
                               f"{data.get('exception_type')}: {data.get('exception_message')}\n"
                               + "".join(data.get("traceback", [])))
            elif kind == "execution_interrupted":
                details.append(f"interrupted at node {data.get('node_id')} ({data.get('node_type')})")
        super().__init__("prompt failed:\n" + "\n".join(details or [json.dumps(messages)[:2000]]))


def status_messages(entry, kind):
    """The data dicts of the status messages of one kind ("execution_error", "execution_interrupted", ...)."""
    return [data for name, data in entry.get("status", {}).get("messages", []) if name == kind]


class ComfyClient:
    def __init__(self, url, base_dir, client_id=None):
        self.url = url.rstrip("/")
        self.base_dir = base_dir
        self.client_id = client_id or uuid.uuid4().hex

    # --- raw HTTP -------------------------------------------------------------------------------
    def request(self, method, path, payload=None, timeout=30):
        """(status, parsed JSON or raw bytes). HTTP error statuses are returned, not raised."""
        data = None if payload is None else json.dumps(payload).encode("utf-8")
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"} if data is not None else {})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status, body, ctype = resp.status, resp.read(), resp.headers.get("Content-Type", "")
        except urllib.error.HTTPError as err:
            status, body, ctype = err.code, err.read(), err.headers.get("Content-Type", "")
        if "json" in ctype:
            return status, json.loads(body.decode("utf-8"))
        return status, body

    def get_json(self, path, timeout=30):
        status, body = self.request("GET", path, timeout=timeout)
        if status != 200:
            raise ComfyError(f"GET {path} -> HTTP {status}: {body[:500]!r}")
        return body

    # --- prompts --------------------------------------------------------------------------------
    def submit(self, prompt):
        """POST /prompt; returns the prompt id. Raises PromptValidationError with node_errors on HTTP 400."""
        if isinstance(prompt, Graph):
            prompt = prompt.prompt()
        status, body = self.request("POST", "/prompt", {"prompt": prompt, "client_id": self.client_id})
        if status == 400 and isinstance(body, dict):
            raise PromptValidationError(body.get("error"), body.get("node_errors"))
        if status != 200:
            raise ComfyError(f"POST /prompt -> HTTP {status}: {body!r}")
        if body.get("node_errors"):
            # Some outputs were valid and got queued anyway: cancel them so no stray run remains.
            self.request("POST", "/queue", {"delete": [body["prompt_id"]]})
            self.interrupt(body["prompt_id"])
            raise PromptValidationError({"type": "node_errors", "message": "some output nodes failed validation"},
                                        body["node_errors"])
        return body["prompt_id"]

    def history(self, prompt_id):
        """The /history entry of a finished prompt, or None while it is queued or running."""
        return self.get_json(f"/history/{prompt_id}").get(prompt_id)

    def wait(self, prompt_id, timeout=300, check=True, poll=0.1):
        """Poll /history until the prompt is finished; return its entry.

        The entry has "outputs" ({node_id: ui dict}), "status" ({"status_str": "success"|"error",
        "completed": bool, "messages": [[kind, data], ...]}), "meta" and "prompt".
        With check=True a failed or interrupted prompt raises PromptExecutionError. On timeout the
        server is interrupted and TimeoutError is raised.
        """
        deadline = time.monotonic() + timeout
        while True:
            entry = self.history(prompt_id)
            if entry is not None and entry.get("status", {}).get("status_str") in ("success", "error"):
                break
            if time.monotonic() > deadline:
                self.interrupt()
                raise TimeoutError(f"prompt {prompt_id} did not finish within {timeout}s")
            time.sleep(poll)
        if check and entry["status"]["status_str"] != "success":
            raise PromptExecutionError(entry)
        return entry

    def run_prompt(self, prompt, timeout=300, check=True):
        """Submit a prompt (dict or Graph), wait for it, return its history entry (see `wait`)."""
        return self.wait(self.submit(prompt), timeout=timeout, check=check)

    def interrupt(self, prompt_id=None):
        """POST /interrupt (global, or only if `prompt_id` is the running prompt)."""
        status, _ = self.request("POST", "/interrupt", {"prompt_id": prompt_id} if prompt_id else {})
        if status != 200:
            raise ComfyError(f"POST /interrupt -> HTTP {status}")

    def queue(self):
        """{"queue_running": [...], "queue_pending": [...]}; items are [number, prompt_id, prompt, extra, outputs]."""
        return self.get_json("/queue")

    def is_running(self, prompt_id):
        return any(item[1] == prompt_id for item in self.queue()["queue_running"])

    def wait_until_idle(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            q = self.queue()
            if not q["queue_running"] and not q["queue_pending"]:
                return
            time.sleep(0.1)
        raise TimeoutError("ComfyUI queue did not drain")

    def free(self, unload_models=True, free_memory=True):
        """POST /free: unload models / drop the execution cache at the next idle point."""
        self.request("POST", "/free", {"unload_models": unload_models, "free_memory": free_memory})

    # --- node info and files --------------------------------------------------------------------
    def object_info(self, node_id=None):
        """GET /object_info[/<node_id>]: the V1-shaped node info dict, or None if the node is unknown.

        Without node_id: the dict of all nodes.
        """
        if node_id is None:
            return self.get_json("/object_info", timeout=120)
        return self.get_json(f"/object_info/{urllib.parse.quote(node_id)}").get(node_id)

    def output_path(self, file_info):
        """Local path of a {"filename", "subfolder", "type"} record from a history entry's outputs."""
        folder = {"output": "output", "temp": "temp", "input": "input"}[file_info.get("type", "output")]
        return os.path.join(self.base_dir, folder, file_info.get("subfolder", ""), file_info["filename"])

    def output_files(self, entry, node_id, key="images"):
        """Local paths of the files listed under outputs[node_id][key] of a history entry."""
        return [self.output_path(info) for info in entry["outputs"][str(node_id)].get(key, [])]

    def saved_tensors(self, entry, node_id):
        """Tensors written by a ReCoTestSaveTensors node (needs safetensors + torch in the test venv)."""
        from safetensors.torch import load_file

        (path,) = self.output_files(entry, node_id, key="tensors")
        return load_file(path)


class NodeRef:
    """One node of a Graph; `node.out(i)` (or `node[i]`) is a link to its output i."""

    def __init__(self, graph, node_id, class_type, inputs):
        self.graph, self.id, self.class_type, self.inputs = graph, node_id, class_type, inputs

    def out(self, index=0):
        return [self.id, index]

    def __getitem__(self, index):
        return self.out(index)

    def set(self, **inputs):
        self.inputs.update(inputs)
        return self


class Graph:
    """Builds an API-format prompt.

        g = Graph()
        frames = g.node("ReCoTestVideoFrames", width=64, height=32, frames=5, seed=0)
        g.node("ReCoTestSaveTensors", name="frames", image=frames.out(0))
        client.run_prompt(g)            # or g.prompt() for the dict

    Node ids are "1", "2", ... in creation order unless given with `node_id=`.
    """

    def __init__(self):
        self.nodes = {}
        self._next = 1

    def node(self, class_type, node_id=None, **inputs):
        if node_id is None:
            while str(self._next) in self.nodes:
                self._next += 1
            node_id = str(self._next)
        node_id = str(node_id)
        if node_id in self.nodes:
            raise ValueError(f"duplicate node id {node_id}")
        ref = NodeRef(self, node_id, class_type, dict(inputs))
        self.nodes[node_id] = ref
        return ref

    def prompt(self):
        out = {}
        for node_id, ref in self.nodes.items():
            inputs = {}
            for name, value in ref.inputs.items():
                if isinstance(value, NodeRef):
                    value = value.out(0)
                if isinstance(value, float) and not math.isfinite(value):
                    raise ValueError(f"node {node_id} input {name} is not finite")
                inputs[name] = value
            out[node_id] = {"class_type": ref.class_type, "inputs": inputs}
        return out


def wait_for_lines(path, count, timeout=300):
    """Wait until the text file at `path` has at least `count` lines (e.g. a step counter's log)."""
    import time
    from pathlib import Path

    path = Path(path)
    deadline = time.monotonic() + timeout
    while not (path.exists() and len(path.read_text().splitlines()) >= count):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{path} did not reach {count} lines in {timeout}s")
        time.sleep(0.05)
    return len(path.read_text().splitlines())
