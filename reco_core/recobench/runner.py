"""Judging every pair of a benchmark, resumably, then scoring it like the authors' step 2.

1. Per task, the pairs without a usable result (`ResultStore.needs_judging`) are judged: each gets the
   step 1 images and prompt, its answer is read (`answers.read_answer`) and its record stored at once.
2. Judges that allow it run several pairs at a time (`workers`); a cancel (Ctrl-C or the `cancel` event)
   stops at once, and every pair finished so far is already on disk.
3. Every task is scored (`aggregate.task_scores`); `<out>/scores.json` and `<out>/table.md` are written.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

from ..errors import CancelledError, ReCoInputError
from ..fsutil import atomic_write_text
from .aggregate import format_table, task_scores
from .answers import read_answer
from .benchmarks import find_clip, read_clip
from .frames import judge_images
from .judges import JudgeRequest, JudgeUnavailable
from .protocol import BenchItem, compose_prompt, prompt_digest
from .results import ResultStore

SCORES_FILE = "scores.json"
TABLE_FILE = "table.md"


def unique_items(items: list[BenchItem]) -> list[BenchItem]:
    """Each edit name once (a repeated instruction line is judged once, and counted per line by step 2)."""
    return list({item.video_name: item for item in items}.values())


def _clip_loader(bench, item: BenchItem, edits: Path) -> Callable[[], tuple]:
    cache: list = []

    def load() -> tuple:
        if not cache:
            path = find_clip(edits, item.video_name)
            if path is None:
                raise JudgeUnavailable(f"no edit {item.video_name} in {edits}")
            cache.append((bench.source_clip(item), read_clip(path, "edit")))
        return cache[0]

    return load


def judge_item(bench, item: BenchItem, judge, edits: Path, prompt: str | None, parse: str,
               cancel: threading.Event) -> dict:
    """One pair's record: judged, malformed (with the reason and the raw answer) or failed (with the reason)."""
    started = time.time()
    record = {"video_name": item.video_name, "task": item.task, "source": item.source,
              "instruction": item.instruction}
    clips = _clip_loader(bench, item, edits)
    request = JudgeRequest(item, None if prompt is None else compose_prompt(prompt, item.instruction),
                           load_images=lambda: judge_images(*clips()), load_clips=clips, truth=bench.truth(item))
    try:
        text, attempts = judge.answer(request, cancel)
    except (JudgeUnavailable, ReCoInputError) as error:
        return {**record, "status": "failed", "error": judge.scrub(str(error)),
                "seconds": round(time.time() - started, 2)}
    parsed = read_answer(text, parse)
    return {**record, "status": "malformed" if parsed.error else "judged", "response": parsed.response,
            "error": parsed.error, "answer": judge.scrub(text), "attempts": attempts,
            "seconds": round(time.time() - started, 2)}


def _pool(jobs: list, work: Callable, workers: int, stop: threading.Event) -> Iterator[tuple]:
    """Yield (job, result) as daemon threads finish them; an exception in `work` is raised here."""
    pending: queue.Queue = queue.Queue()
    for job in jobs:
        pending.put(job)
    finished: queue.Queue = queue.Queue()

    def loop() -> None:
        while not stop.is_set():
            try:
                job = pending.get_nowait()
            except queue.Empty:
                return
            try:
                finished.put((job, work(job), None))
            except BaseException as error:  # handed to the main thread
                finished.put((job, None, error))

    for _ in range(min(workers, len(jobs))):
        threading.Thread(target=loop, daemon=True, name="recobench-judge").start()
    try:
        for _ in jobs:
            while True:
                if stop.is_set():
                    raise CancelledError("judging cancelled; every pair finished so far is saved")
                try:
                    job, result, error = finished.get(timeout=0.1)
                    break
                except queue.Empty:
                    continue
            if error is not None:
                raise error
            yield job, result
    finally:
        stop.set()


def judge_benchmark(bench, tasks: list[str], judge, edits: str | Path, out: str | Path, *, prompt: str | None,
                    parse: str = "authors", rejudge: str = "none", malformed: str = "count",
                    weights: dict | None = None, progress: Callable[[int, int, dict], None] | None = None,
                    cancel: threading.Event | None = None) -> dict:
    """Judge the pairs of `tasks` that have no result yet, then score every task; returns the report."""
    edits, out = Path(edits), Path(out)
    if judge.needs_prompt and prompt is None:
        raise ReCoInputError("--bench-dir", "is needed for the judge prompt", "Give the ReCo-Bench folder.")
    header = {"benchmark": bench.name, "judge": judge.identity, "prompt_sha256": prompt_digest(prompt), "parse": parse}
    items = {task: bench.items(task) for task in tasks}
    stores = {task: ResultStore(out / f"{task}.json", {**header, "task": task}, rejudge) for task in tasks}
    jobs = [(task, item) for task in tasks for item in unique_items(items[task]) if stores[task].needs_judging(item)]
    stop = threading.Event()
    watcher = _forward(cancel, stop)
    try:
        work = lambda job: judge_item(bench, job[1], judge, edits, prompt, parse, stop)  # noqa: E731
        for done, ((task, _), record) in enumerate(_pool(jobs, work, judge.workers, stop), start=1):
            stores[task].put(record)
            if progress is not None:
                progress(done, len(jobs), record)
    finally:
        stop.set()
        watcher.join()
    report = {**header, "judged_now": len(jobs), "malformed": malformed,
              "tasks": {task: task_scores(items[task], stores[task].records, malformed, weights) for task in tasks}}
    atomic_write_text(out / SCORES_FILE, json.dumps(report, indent=1, ensure_ascii=False))
    atomic_write_text(out / TABLE_FILE, format_table(report["tasks"], markdown=True) + "\n")
    return report


def _forward(cancel: threading.Event | None, stop: threading.Event) -> threading.Thread:
    """A thread that sets `stop` when the caller's `cancel` is set (ends with `stop`)."""
    def watch() -> None:
        while not stop.wait(0.05):
            if cancel is not None and cancel.is_set():
                stop.set()

    thread = threading.Thread(target=watch, daemon=True, name="recobench-cancel")
    thread.start()
    return thread
