"""The ReCo-Bench protocol of the authors' step 1: tasks, instruction lists, edit names and the judge prompt.

The authors' benchmark files (`eval_step1_run_gemini_api.py` with the judge prompt, `configs/<task>.txt`
with the instructions, `configs/<task>_edited_video_prompt.json` with target captions) come with ReCo-Bench
under CC BY-NC-SA 4.0, which this Apache-2.0 pack cannot ship. They are read from the user's own copy
(`--bench-dir`): the prompt is taken out of the script as a string literal by `ast`, never executed.
"""

from __future__ import annotations

import ast
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import ReCoInputError

TASKS: tuple[str, ...] = ("add", "remove", "replace", "style")

#: The judge's three answer blocks, in the order of the authors' step 2, each with its three sub-dimensions
#: in the order of its `scores` list.
CATEGORIES: tuple[str, ...] = ("edit_accuracy", "video_quality", "naturalness")
INDICATORS: dict[str, tuple[str, str, str]] = {
    "edit_accuracy": ("SA", "SP", "CP"),
    "video_quality": ("VF", "TS", "ES"),
    "naturalness": ("AN", "SN", "MN"),
}
#: The paper's names of the per-category scores.
CATEGORY_SYMBOLS: dict[str, str] = {"edit_accuracy": "S_EA", "naturalness": "S_VN", "video_quality": "S_VQ"}

#: SHA-256 of the judge prompt in the authors' step 1 as published (ReCo-Bench/eval_step1_run_gemini_api.py at
#: commit 0ff1b0c of github.com/cympyc1785/ReCo, a fork that carries the authors' benchmark files unchanged).
AUTHORS_PROMPT_SHA256 = "e2088430ac7de0271e55f1bc59bfd565827adb75708def78fa699d736b2a9cbd"
STEP1_SCRIPT = "eval_step1_run_gemini_api.py"
PROMPT_VARIABLE = "benchmark_score_eval_sys_prompt"
CONFIGS_DIR = "configs"
BENCH_DIR_FIX = ("Give the ReCo-Bench folder you downloaded (HiDream-ai/ReCo-Bench, or ReCo-Bench/ of the authors' "
                 "repository): it holds eval_step1_run_gemini_api.py and configs/<task>.txt. Its prompts are "
                 "CC BY-NC-SA 4.0 and are not shipped with this pack")


@dataclass(frozen=True)
class BenchItem:
    """One benchmark pair: a source video and the instruction to edit it by (a line of configs/<task>.txt)."""

    task: str
    source: str
    instruction: str
    line: int = 0

    @property
    def video_name(self) -> str:
        """The file name the authors' step 1 expects for this pair's edit (also the key of its result)."""
        return edit_name(self.source, self.instruction)


def edit_name(source: str, instruction: str) -> str:
    """`<source stem>_<instruction, spaces to _, without . and ,, : to space, first 80 chars>.mp4`, as in step 1."""
    prompt_name = instruction.replace(" ", "_").replace(".", "").replace(",", "").replace(":", " ")
    return f"{source.replace('.mp4', '')}_{prompt_name[:80]}.mp4"


def compose_prompt(judge_prompt: str, instruction: str) -> str:
    """The text the judge gets after the images: the prompt with the instruction appended, as in step 1."""
    return judge_prompt + f"instruction: {instruction}"


def prompt_digest(judge_prompt: str | None) -> str | None:
    return None if judge_prompt is None else hashlib.sha256(judge_prompt.encode("utf-8")).hexdigest()


def prompt_note(judge_prompt: str) -> str:
    """Whether the prompt read is the authors' published one (scores are comparable with the paper's only then)."""
    digest = prompt_digest(judge_prompt)
    if digest == AUTHORS_PROMPT_SHA256:
        return f"judge prompt: the authors' step 1 prompt (SHA-256 {digest[:12]})"
    return (f"warning: the judge prompt (SHA-256 {digest[:12]}) is not the one the authors published "
            f"({AUTHORS_PROMPT_SHA256[:12]}); scores are not comparable with the paper's")


def check_task(task: str, input_name: str = "--task") -> str:
    if task not in TASKS:
        raise ReCoInputError(input_name, f"{task!r} is not a ReCo-Bench task", f"Use one of: {', '.join(TASKS)}.")
    return task


# ----------------------------------------------------------------------------------------------- the user's folder


def check_bench_dir(folder: str | Path | None) -> Path:
    if not folder:
        raise ReCoInputError("--bench-dir", "is not set", BENCH_DIR_FIX + ".")
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise ReCoInputError("--bench-dir", f"{path} is not a folder", BENCH_DIR_FIX + ".")
    return path


def read_judge_prompt(bench_dir: str | Path) -> str:
    """The authors' judge prompt: the string assigned to `benchmark_score_eval_sys_prompt` in their step 1."""
    script = check_bench_dir(bench_dir) / STEP1_SCRIPT
    if not script.is_file():
        raise ReCoInputError("--bench-dir", f"{script.parent} has no {STEP1_SCRIPT}", BENCH_DIR_FIX + ".")
    try:
        tree = ast.parse(script.read_text(encoding="utf-8"), filename=str(script))
    except (SyntaxError, UnicodeDecodeError) as error:
        raise ReCoInputError("--bench-dir", f"{script} is not readable Python ({error})", BENCH_DIR_FIX + ".") from None
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == PROMPT_VARIABLE for t in node.targets):
            if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                return node.value.value
    raise ReCoInputError("--bench-dir", f"{script} assigns no string to {PROMPT_VARIABLE}",
                         BENCH_DIR_FIX + " (the script of the authors' release, unmodified).")


def parse_instruction_lines(text: str, task: str, origin: str) -> list[BenchItem]:
    """`video.mp4: instruction [| reference image]` lines; blank lines and `#` comments are skipped (step 1's rules)."""
    items = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        video, colon, rest = line.partition(":")
        instruction = rest.split("|", 1)[0].strip()
        if not colon or not video.strip() or not instruction:
            raise ReCoInputError(f"{origin} line {number}", f"{raw.strip()!r} is not 'video.mp4: instruction'",
                                 "Fix the line or use the file of the authors' release.")
        items.append(BenchItem(task, video.strip(), instruction, number))
    return items


def read_instructions(bench_dir: str | Path, task: str) -> list[BenchItem]:
    """The pairs of one task, from `configs/<task>.txt` (or `<task>.txt` directly in the folder)."""
    check_task(task)
    folder = check_bench_dir(bench_dir)
    for path in (folder / CONFIGS_DIR / f"{task}.txt", folder / f"{task}.txt"):
        if path.is_file():
            return parse_instruction_lines(path.read_text(encoding="utf-8"), task, str(path))
    raise ReCoInputError("--bench-dir", f"{folder} has no {CONFIGS_DIR}/{task}.txt", BENCH_DIR_FIX + ".")


def read_target_captions(bench_dir: str | Path, task: str) -> dict[str, str]:
    """`configs/<task>_edited_video_prompt.json`: edit name -> a caption of the edited video ({} if absent).

    The authors' step 1 does not use it; it is for edit models that want a caption of the result rather
    than an instruction (`--prompt caption` when making the edits).
    """
    path = check_bench_dir(bench_dir) / CONFIGS_DIR / f"{task}_edited_video_prompt.json"
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ReCoInputError("--bench-dir", f"{path} is not valid JSON ({error})", BENCH_DIR_FIX + ".") from None
    return {name: entry["tar_video_prompt"] for name, entry in data.items()
            if isinstance(entry, dict) and isinstance(entry.get("tar_video_prompt"), str)}
