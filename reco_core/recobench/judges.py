"""Judges behind one interface, and the one that speaks the OpenAI chat API.

A judge gets a `JudgeRequest` (the step 1 images and prompt, and the clips themselves) and returns the
answer text; the runner parses it. `OpenAIChatJudge` covers every OpenAI-compatible endpoint that takes
images (Gemini's OpenAI endpoint, OpenAI, vLLM, Ollama, LM Studio, ...). It sends what step 1 sends: one
user message holding the images as JPEG data URLs, then the text, with `max_tokens` 8192.

The API key is read from an environment variable named by the user, kept in memory only, and scrubbed
from every message this module raises (a server may echo it back).
"""

from __future__ import annotations

import base64
import json
import os
import socket
import threading
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Callable, Protocol

from ..errors import CancelledError, ReCoInputError
from .protocol import BenchItem

RETRYABLE_STATUS = (408, 409, 425, 429)  # and every 5xx
MAX_BACKOFF_S = 60.0


class JudgeUnavailable(RuntimeError):
    """No answer could be had for a pair (network, timeout, HTTP error, unreadable clip). Retried on the next run."""


@dataclass
class JudgeRequest:
    """What a judge may look at for one pair. `images`/`prompt` are step 1's; `truth` only in the shapes world."""

    item: BenchItem
    prompt: str | None
    load_images: Callable[[], list[bytes]]
    load_clips: Callable[[], tuple]  # (source frames, edit frames), [T, H, W, 3] in 0..1
    truth: object | None = None
    _images: list[bytes] | None = field(default=None, repr=False)

    @property
    def images(self) -> list[bytes]:
        if self._images is None:
            self._images = self.load_images()
        return self._images


class Judge(Protocol):
    """`identity` (no secrets) is stored with the results; `workers` caps parallel calls; `needs_prompt` says
    whether the authors' prompt is required."""

    identity: dict
    workers: int
    needs_prompt: bool

    def answer(self, request: JudgeRequest, cancel: threading.Event) -> tuple[str, int]:
        """The answer text and the number of attempts it took; raises JudgeUnavailable when none could be had."""

    def scrub(self, text: str) -> str:
        """`text` with any secret removed."""


def data_url(jpeg: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode("ascii")


def read_api_key(variable: str | None) -> str | None:
    """The key from environment variable `variable` (None when no variable is named)."""
    if not variable:
        return None
    key = os.environ.get(variable, "").strip()
    if not key:
        raise ReCoInputError("--api-key-env", f"the environment variable {variable} is not set",
                             f"Export the key first (export {variable}=...); it is read from there only and never "
                             "written anywhere.")
    return key


def _public_endpoint(endpoint: str) -> str:
    """The endpoint without credentials, query or fragment: what may be written down."""
    parts = urllib.parse.urlsplit(endpoint)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def check_endpoint(endpoint: str | None) -> str:
    parts = urllib.parse.urlsplit(endpoint or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ReCoInputError("--endpoint", f"{endpoint!r} is not an http(s) URL",
                             "Give the API's base URL, e.g. http://localhost:11434/v1 (Ollama), "
                             "http://localhost:8000/v1 (vLLM) or "
                             "https://generativelanguage.googleapis.com/v1beta/openai (Gemini).")
    return endpoint.rstrip("/")


class OpenAIChatJudge:
    """POST `<endpoint>/chat/completions` with step 1's message; retries with exponential backoff."""

    needs_prompt = True

    def __init__(self, endpoint: str, model: str, *, api_key: str | None = None, timeout: float = 300.0,
                 retries: int = 5, backoff: float = 2.0, max_tokens: int = 8192, workers: int = 1):
        if not model:
            raise ReCoInputError("--judge-model", "is not set", "Name the model the endpoint serves, e.g. "
                                 "gemini-2.5-flash, Qwen/Qwen2.5-VL-7B-Instruct or qwen2.5vl:7b.")
        if not timeout > 0:
            raise ReCoInputError("--timeout", f"{timeout} is not a positive number of seconds", "Use e.g. 300.")
        if not backoff >= 0:
            raise ReCoInputError("--backoff", f"{backoff} is not a number of seconds >= 0", "Use e.g. 2.")
        if retries < 0 or workers < 1 or max_tokens < 1:
            raise ReCoInputError("--retries/--workers/--max-tokens", "must be >= 0, >= 1 and >= 1",
                                 "Use e.g. --retries 5 --workers 8 --max-tokens 8192.")
        self._url = check_endpoint(endpoint) + "/chat/completions"
        self._key = api_key
        self.model, self.timeout, self.retries, self.backoff = model, timeout, retries, backoff
        self.max_tokens, self.workers = max_tokens, workers
        self.identity = {"kind": "openai", "endpoint": _public_endpoint(endpoint), "model": model,
                         "max_tokens": max_tokens}

    def __repr__(self) -> str:
        return f"OpenAIChatJudge({self.identity['endpoint']!r}, {self.model!r})"

    def scrub(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key and text else text

    def payload(self, request: JudgeRequest) -> dict:
        images = [{"type": "image_url", "image_url": {"url": data_url(jpeg)}} for jpeg in request.images]
        content = [*images, {"type": "text", "text": request.prompt}]
        return {"model": self.model, "messages": [{"role": "user", "content": content}], "max_tokens": self.max_tokens}

    def _post(self, body: bytes) -> dict:
        headers = {"Content-Type": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        call = urllib.request.Request(self._url, data=body, headers=headers, method="POST")
        with urllib.request.urlopen(call, timeout=self.timeout) as reply:
            return json.loads(reply.read().decode("utf-8"))

    def answer(self, request: JudgeRequest, cancel: threading.Event) -> tuple[str, int]:
        body = json.dumps(self.payload(request)).encode("utf-8")
        for attempt in range(1, self.retries + 2):
            if cancel.is_set():
                raise CancelledError("judging cancelled")
            try:
                return message_text(self._post(body)), attempt
            except urllib.error.HTTPError as error:
                problem = f"HTTP {error.code} from {self.identity['endpoint']}: {_error_body(error)}"
                if error.code not in RETRYABLE_STATUS and error.code < 500:
                    raise JudgeUnavailable(self.scrub(problem) + _http_hint(error.code)) from None
            except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError) as error:
                reason = getattr(error, "reason", error)
                problem = f"no answer from {self.identity['endpoint']} within {self.timeout:g} s ({reason})"
            except (json.JSONDecodeError, UnicodeDecodeError, KeyError, IndexError, TypeError) as error:
                problem = f"the reply is not an OpenAI chat completion ({type(error).__name__}: {error})"
            if attempt <= self.retries:
                cancel.wait(min(self.backoff * 2 ** (attempt - 1), MAX_BACKOFF_S))
        raise JudgeUnavailable(self.scrub(f"{problem}; gave up after {self.retries + 1} attempts"))


def message_text(reply: dict) -> str:
    """choices[0].message.content as text (some servers send a list of parts, or null for a refusal)."""
    content = reply["choices"][0]["message"].get("content")
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content or ""


def _error_body(error: urllib.error.HTTPError) -> str:
    try:
        return error.read().decode("utf-8", errors="replace")[:300].strip() or error.reason
    except OSError:
        return str(error.reason)


def _http_hint(code: int) -> str:
    if code in (401, 403):
        return ". Check the key in the environment variable named by --api-key-env"
    if code == 404:
        return ". Check --endpoint (the base URL, ending in /v1 or /openai) and --judge-model"
    return ""
