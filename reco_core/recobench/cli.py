"""`python -m reco_core bench reco`: make the edits (optional), judge them, print and write the scores."""

from __future__ import annotations

from pathlib import Path

from ..choices import DTYPE_NAMES
from ..errors import ReCoInputError
from .aggregate import MALFORMED_POLICIES, format_table, parse_weights
from .answers import PARSE_MODES
from .protocol import TASKS, check_bench_dir, prompt_note, read_judge_prompt
from .results import REJUDGE_CHOICES

JUDGES = ("openai", "local", "metrics")


def add_parser(bench_commands) -> None:
    """The `reco` subcommand of `bench`."""
    reco = bench_commands.add_parser(
        "reco", help="the authors' ReCo-Bench protocol with any judge",
        description="Judge edits with the authors' ReCo-Bench protocol (their step 1 prompt, frames and parsing, "
        "their step 2 scores: SA SP CP / AN SN MN / VF TS ES, S_EA S_VN S_VQ and S per task). Resumable: a "
        "judged pair is never judged again. See docs/recobench.md.")
    where = reco.add_argument_group("pairs")
    where.add_argument("--bench-dir", default=None, help="your ReCo-Bench folder (eval_step1_run_gemini_api.py and "
                       "configs/<task>.txt): the judge prompt and the instructions are read from it (CC BY-NC-SA "
                       "4.0, not shipped with this pack)")
    where.add_argument("--shapes", action="store_true", help="use ReCo-Shapes held-out pairs instead of the "
                       "authors' instructions (sources rendered, ground truth for --judge metrics)")
    where.add_argument("--count", type=int, default=None, help="with --shapes: pairs per task (default: as bench shapes)")
    where.add_argument("--task", action="append", choices=TASKS, default=None, help="a task to run; repeat for "
                       "several (default: all four)")
    where.add_argument("--edits", required=True, help="folder of the edited videos, named as the authors' step 1 "
                       "expects: <source stem>_<instruction with _ for spaces, no . or ,, first 80 chars>.mp4")
    where.add_argument("--sources", default=None, help="folder of the source videos named in configs/<task>.txt "
                       "(each must have its edit's frame count and height; <edits>/model_sources/ is used first)")
    make = reco.add_argument_group("making the edits first (optional)")
    make.add_argument("--edit", default=None, metavar='"FLAGS"', help="make the missing edits with `python -m "
                      'reco_core edit FLAGS` first, e.g. --edit "--model shapes" (any model, LoRA and setting the '
                      "edit command takes)")
    make.add_argument("--prompt", choices=("instruction", "caption"), default="instruction", help="what the edit "
                      "model is given: the instruction, or the edited-video caption of configs/<task>_edited_video_"
                      "prompt.json (default instruction)")
    judge = reco.add_argument_group("the judge")
    judge.add_argument("--judge", choices=JUDGES, default=None, help="openai: any OpenAI-compatible chat endpoint "
                       "with images (Gemini, vLLM, Ollama, LM Studio); local: a transformers vision-language model "
                       "from a local folder; metrics: ground truth, --shapes only. Without it only the edits are made")
    judge.add_argument("--judge-model", default=None, help="openai: the model name the endpoint serves; local: the "
                       "model's folder")
    judge.add_argument("--endpoint", default=None, help="openai: the API base URL, e.g. http://localhost:8000/v1 or "
                       "https://generativelanguage.googleapis.com/v1beta/openai")
    judge.add_argument("--api-key-env", default=None, metavar="VARIABLE", help="openai: the environment variable "
                       "that holds the API key (read there only, never written or printed; none for local servers)")
    judge.add_argument("--timeout", type=float, default=300.0, help="openai: seconds to wait for an answer (default 300)")
    judge.add_argument("--retries", type=int, default=5, help="openai: retries after a timeout or a 429/5xx, with "
                       "exponential backoff (default 5)")
    judge.add_argument("--backoff", type=float, default=2.0, help="openai: first backoff in seconds, doubled each "
                       "retry up to 60 (default 2)")
    judge.add_argument("--workers", type=int, default=1, help="openai: pairs judged at once (the authors use 8; "
                           "default 1)")
    judge.add_argument("--max-tokens", type=int, default=None, help="answer length limit (default 8192 as the "
                       "authors for openai, 2048 for local)")
    judge.add_argument("--device", default=None, help="local: cuda, cpu, ... (default cuda if available)")
    judge.add_argument("--judge-dtype", choices=("auto", *DTYPE_NAMES), default="auto", help="local: "
                       "weights dtype (default: the model's own)")
    scoring = reco.add_argument_group("results")
    scoring.add_argument("--out", default=None, help="results folder: <task>.json per task (every answer), "
                         "scores.json and table.md (default <edits>/recobench-<judge>)")
    scoring.add_argument("--parse", choices=PARSE_MODES, default="authors", help="authors: exactly step 1 (an "
                         'answer containing the word "error" counts as failed); json: read the JSON only')
    scoring.add_argument("--malformed", choices=MALFORMED_POLICIES, default="count", help="count: malformed answers "
                         "are scored as step 2 scores what step 1 stored (0 without scores); skip: left out")
    scoring.add_argument("--rejudge", choices=REJUDGE_CHOICES, default="none", help="judge again the malformed "
                         "answers, or all pairs (default none: a judged pair is never judged twice)")
    scoring.add_argument("--weights", default="", help="step 2's category weights, e.g. edit_accuracy=0.5,"
                         "video_quality=0.3,naturalness=0.2 (default 1/3 each)")
    scoring.add_argument("--quiet", action="store_true", help="no progress bars")


def make_judge(args):
    if args.judge == "metrics":
        from .metrics_judge import MetricsJudge

        return MetricsJudge()
    if args.judge == "local":
        from .local_judge import LocalVLMJudge

        return LocalVLMJudge(args.judge_model, device=args.device, dtype=args.judge_dtype,
                             max_new_tokens=args.max_tokens or 2048)
    from .judges import OpenAIChatJudge, read_api_key

    return OpenAIChatJudge(args.endpoint, args.judge_model, api_key=read_api_key(args.api_key_env),
                           timeout=args.timeout, retries=args.retries, backoff=args.backoff,
                           max_tokens=args.max_tokens or 8192, workers=args.workers)


def make_bench(args):
    from .benchmarks import ReCoBench, ShapesBench

    if args.shapes:
        return ShapesBench(args.count)
    if args.count is not None:
        raise ReCoInputError("--count", "is only for --shapes", "Leave it out: ReCo-Bench has its own pair lists.")
    check_bench_dir(args.bench_dir)
    return ReCoBench(args.bench_dir, args.sources, args.edits)


def _bar(quiet: bool, unit: str):
    from tqdm import tqdm

    state = {"bar": None}

    def update(done: int, total: int, label) -> None:
        if quiet:
            return
        if state["bar"] is None:
            state["bar"] = tqdm(total=total, unit=unit, dynamic_ncols=True)
        bar = state["bar"]
        bar.n = done
        if isinstance(label, dict):
            bar.set_postfix_str(f"{label['status']}: {label['video_name'][:40]}")
        bar.refresh()
        if done >= total:
            bar.close()

    return update


def run(args) -> int:
    """Check everything, make the missing edits (--edit), judge the pairs without a result, print the table."""
    tasks = list(dict.fromkeys(args.task or TASKS))
    bench = make_bench(args)
    judge = make_judge(args) if args.judge else None
    weights = parse_weights(args.weights)
    if args.judge == "metrics" and not args.shapes:
        raise ReCoInputError("--judge", "metrics needs ground truth, which only the ReCo-Shapes world has",
                             "Add --shapes, or use --judge openai or local.")
    prompt = read_judge_prompt(args.bench_dir) if judge is not None and judge.needs_prompt else None
    if prompt is not None:
        print(prompt_note(prompt))
    if judge is None and not args.edit:
        raise ReCoInputError("--judge", "is not set and there is no --edit", "Give --judge (and --edit to make the "
                             "edits first).")
    if args.edit:
        from .editing import make_edits

        made = make_edits(bench, tasks, args.edits, args.edit, prompt=args.prompt, progress=_bar(args.quiet, "edit"))
        print(f"made {made['made']} edits in {args.edits}")
        for name, why in made["skipped"]:
            print(f"skipped {name}: {why}")
    if judge is None:
        return 0
    from .runner import judge_benchmark

    out = Path(args.out) if args.out else Path(args.edits) / f"recobench-{args.judge}"
    report = judge_benchmark(bench, tasks, judge, args.edits, out, prompt=prompt, parse=args.parse,
                             rejudge=args.rejudge, malformed=args.malformed, weights=weights,
                             progress=_bar(args.quiet, "pair"))
    print(format_table(report["tasks"]))
    print_notes(report, out)
    return 0


def print_notes(report: dict, out: Path) -> None:
    counts = {key: sum(task["counts"][key] for task in report["tasks"].values())
              for key in ("malformed", "failed", "missing")}
    if counts["malformed"]:
        policy = "scored as step 2 scores them" if report["malformed"] == "count" else "left out (--malformed skip)"
        print(f"{counts['malformed']} malformed answers, {policy}; each is kept with its reason in {out}/<task>.json "
              "(--rejudge malformed asks again)")
    if counts["failed"] + counts["missing"]:
        print(f"{counts['failed'] + counts['missing']} pairs not judged (reasons in {out}/<task>.json): the totals "
              "are incomplete; run the same command again to retry them")
    print(f"wrote {out / 'scores.json'} and {out / 'table.md'}")
