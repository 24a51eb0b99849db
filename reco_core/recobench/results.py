"""The results of one task and judge, kept on disk so a run can stop and resume anywhere.

`<out>/<task>.json` holds a header (benchmark, judge identity without secrets, the prompt's SHA-256,
parse mode) and one record per pair, keyed by the edit's name:
- "judged": the answer gave three blocks of three scores;
- "malformed": the judge answered, but not in that format; `error` says why, `answer` keeps the text and
  `response` what the authors' step 1 would have stored;
- "failed": no answer (missing or unreadable clip, timeout, HTTP error); retried on the next run.
The file is rewritten atomically after every pair. A judged or malformed pair is never judged again
unless asked (`rejudge`).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from ..errors import ReCoInputError
from ..fsutil import atomic_write_text
from .protocol import BenchItem

REJUDGE_CHOICES = ("none", "malformed", "all")
HEADER_KEYS = ("benchmark", "task", "judge", "prompt_sha256", "parse")


class ResultStore:
    def __init__(self, path: str | Path, header: dict, rejudge: str = "none"):
        if rejudge not in REJUDGE_CHOICES:
            raise ReCoInputError("--rejudge", f"{rejudge!r} is not a choice", f"Use one of: {', '.join(REJUDGE_CHOICES)}.")
        self.path, self.header, self.rejudge = Path(path), {key: header.get(key) for key in HEADER_KEYS}, rejudge
        self.records: dict[str, dict] = {}
        self._lock = threading.Lock()
        if self.path.is_file() and rejudge != "all":
            self.records = self._read_matching()

    def _read_matching(self) -> dict[str, dict]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ReCoInputError("--out", f"{self.path} is not a results file ({error})",
                                 "Use another --out folder, or move the file away.") from None
        stored = {key: data.get(key) for key in HEADER_KEYS}
        if stored != self.header:
            changed = [key for key in HEADER_KEYS if stored[key] != self.header[key]]
            raise ReCoInputError("--out", f"{self.path} holds results made with another {', '.join(changed)} "
                                 f"({json.dumps({k: stored[k] for k in changed})})",
                                 "Use another --out folder so two judges or prompts never mix, or --rejudge all to "
                                 "replace them.")
        return dict(data.get("items", {}))

    def needs_judging(self, item: BenchItem) -> bool:
        status = self.records.get(item.video_name, {}).get("status")
        return (status in (None, "failed") or (self.rejudge == "malformed" and status == "malformed")
                or self.rejudge == "all")

    def put(self, record: dict) -> None:
        with self._lock:
            self.records[record["video_name"]] = record
            atomic_write_text(self.path, json.dumps({**self.header, "items": self.records}, indent=1,
                                                    ensure_ascii=False))
