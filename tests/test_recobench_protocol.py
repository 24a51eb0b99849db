"""ReCo-Bench protocol pieces: edit names, the prompt from the user's folder, step 1's frames and parsing, step 2."""

import io
import os

import numpy as np
import pytest
from PIL import Image

from reco_core.errors import ReCoInputError
from reco_core.recobench.aggregate import format_table, geometric_mean, parse_weights, step2_scores, task_scores
from reco_core.recobench.answers import ERROR_RESPONSE, extract_braced_json, read_answer
from reco_core.recobench.frames import judge_images, sampled_indices
from reco_core.recobench.protocol import (
    BenchItem,
    compose_prompt,
    edit_name,
    parse_instruction_lines,
    prompt_note,
    read_instructions,
    read_judge_prompt,
)

PROMPT = '\nYou judge edits. Answer {"edit_accuracy": {"scores": [1, 1, 1]}} and nothing else.\n'


def write_bench_dir(folder, prompt=PROMPT, tasks=None):
    """A ReCo-Bench folder as the authors lay it out; the script raises at once, so executing it would fail."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "eval_step1_run_gemini_api.py").write_text(
        'raise SystemExit("the benchmark script must be read, never run")\n'
        f"benchmark_score_eval_sys_prompt = {prompt!r}\n", encoding="utf-8")
    (folder / "configs").mkdir(exist_ok=True)
    for task, lines in (tasks or {}).items():
        (folder / "configs" / f"{task}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


# ------------------------------------------------------------------------------------------------ protocol


def test_edit_names_follow_step1_and_match_the_authors_own_keys():
    # Keys of the authors' configs/add_edited_video_prompt.json, made by the same rule.
    assert edit_name("855289-hd_1920_1080_25fps.mp4",
                     "Add a bright orange monarch butterfly hovering above the squirrel’s back.") == (
        "855289-hd_1920_1080_25fps_Add_a_bright_orange_monarch_butterfly_hovering_above_the_squirrel’s_back.mp4")
    # 84 characters after the rule, cut to 80 (the trailing "vase" is lost, "the_" kept).
    assert edit_name("1847910-hd_1920_1080_30fps.mp4",
                     "Add a small, wooden picture frame standing on the windowsill to the right of the vase.") == (
        "1847910-hd_1920_1080_30fps_Add_a_small_wooden_picture_frame_standing_on_the_windowsill_to_the_right_of_the_.mp4")
    assert edit_name("clip.mp4", "Make it: night.") == "clip_Make_it _night.mp4"


def test_instruction_lines_are_read_with_step1s_rules():
    text = "# a comment\n\nclip.mp4: Add a hat. | ip/hat.png\n other.mp4 :Remove the dog: now \n"
    items = parse_instruction_lines(text, "add", "add.txt")
    assert [(i.source, i.instruction, i.line) for i in items] == [("clip.mp4", "Add a hat.", 3),
                                                                  ("other.mp4", "Remove the dog: now", 4)]
    with pytest.raises(ReCoInputError, match="add.txt line 2"):
        parse_instruction_lines("a.mp4: ok\nno colon here\n", "add", "add.txt")


def test_the_judge_prompt_is_read_from_the_users_folder_without_running_it(tmp_path):
    folder = write_bench_dir(tmp_path / "ReCo-Bench", tasks={"add": ["a.mp4: Add a hat."]})
    assert read_judge_prompt(folder) == PROMPT
    assert compose_prompt(PROMPT, "Add a hat.") == PROMPT + "instruction: Add a hat."
    assert read_instructions(folder, "add") == [BenchItem("add", "a.mp4", "Add a hat.", 1)]
    with pytest.raises(ReCoInputError, match="configs/remove.txt"):
        read_instructions(folder, "remove")
    with pytest.raises(ReCoInputError, match="--bench-dir.*not shipped"):
        read_judge_prompt(tmp_path / "nowhere")
    assert prompt_note(PROMPT).startswith("warning: the judge prompt") and "not comparable" in prompt_note(PROMPT)
    (folder / "eval_step1_run_gemini_api.py").write_text("prompt = 'renamed'\n")
    with pytest.raises(ReCoInputError, match="benchmark_score_eval_sys_prompt"):
        read_judge_prompt(folder)


# ------------------------------------------------------------------------------------------------ frames


def step1_written_out(source, edit, folder):
    """The authors' step 1 done the long way: every frame resized and saved, the folder listed, every 8th sent."""
    canvas = np.concatenate([source, edit], axis=2)
    height, width = canvas.shape[1:3]
    for index, frame in enumerate(canvas):
        image = Image.fromarray(frame)
        if height != 224:
            image = image.resize((int(round(width * 224 / height)), 224), Image.BICUBIC)
        image.save(folder / f"frame_{index:03d}.jpg")
    sent = []
    for name in sorted(os.listdir(folder))[::8]:
        image = Image.open(folder / name).convert("RGB")
        scale = max(512 / min(image.size), 1.0)
        image = image.resize((int(image.size[0] * scale), int(image.size[1] * scale)), Image.LANCZOS)
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=85)
        sent.append(buffer.getvalue())
    return sent


@pytest.mark.parametrize("frames,height,width", [(81, 24, 20), (1003, 6, 4)])
def test_judge_images_are_byte_identical_to_step1_processing_every_frame(tmp_path, frames, height, width):
    rng = np.random.default_rng(0)
    source = rng.integers(0, 256, (frames, height, width, 3), dtype=np.uint8)
    edit = rng.integers(0, 256, (frames, height, width + 8, 3), dtype=np.uint8)
    images = judge_images(source, edit)
    assert images == step1_written_out(source, edit, tmp_path)
    if frames == 81:
        assert sampled_indices(81) == list(range(0, 81, 8)) and len(images) == 11
        sent = Image.open(io.BytesIO(images[0]))
        assert sent.format == "JPEG" and sent.size == (int(round(48 * 224 / 24) * 512 / 224), 512)
    else:  # names sort as text past 999 frames: frame_100, frame_1000, frame_1001, frame_1002, frame_101, ...
        assert sampled_indices(1003)[:15] == [0, 8, 16, 24, 32, 40, 48, 56, 64, 72, 80, 88, 96, 101, 109]


def test_clips_of_different_length_or_height_are_refused_with_the_fix():
    source = np.zeros((9, 16, 16, 3), dtype=np.uint8)
    with pytest.raises(ReCoInputError, match="model_sources"):
        judge_images(source, np.zeros((5, 16, 16, 3), dtype=np.uint8))


# ------------------------------------------------------------------------------------------------ answers

GOOD = ('{"edit_accuracy": {"scores": [8, 9, 10], "reasoning": "a {brace} in text"}, '
        '"video_quality": {"scores": [7, 7, 9], "reasoning": "ok"}, '
        '"naturalness": {"scores": [6, 8.5, 8], "reasoning": "\\"quoted\\" }"}}')


def test_answers_are_read_like_step1():
    parsed = read_answer(f"Here you go:\n```json\n{GOOD}\n```\nDone.")
    assert parsed.error is None and parsed.response["naturalness"]["scores"] == [6, 8.5, 8]
    assert extract_braced_json('x {"a": "}"} y}') == '{"a": "}"}'
    # Step 1 treats any answer mentioning "error" as a failed call; --parse json does not.
    quirk = GOOD.replace('"ok"', '"no visible errors"')
    assert read_answer(quirk).response == ERROR_RESPONSE and "error" in read_answer(quirk).error
    assert read_answer(quirk, parse="json").error is None


@pytest.mark.parametrize("answer,reason", [
    ("", "empty answer"),
    ("I cannot rate this video.", "no complete {...} JSON object"),
    ('{"edit_accuracy": {"scores": [8, 9,]}}', "not valid JSON"),
    ('{"edit_accuracy": {"scores": [8, 9, 10]}}', '"video_quality" has no "scores" list'),
    (GOOD.replace("[7, 7, 9]", "[7, 7]"), "not three numbers in 0..10"),
    (GOOD.replace("[7, 7, 9]", '[7, 70, 9]'), "not three numbers in 0..10"),
])
def test_malformed_answers_get_a_clear_reason(answer, reason):
    parsed = read_answer(answer)
    assert parsed.error is not None and reason in parsed.error


# ------------------------------------------------------------------------------------------------ step 2


def answer(ea, vq, na):
    return {"edit_accuracy": {"scores": ea}, "video_quality": {"scores": vq}, "naturalness": {"scores": na}}


def hand_records():
    """Answers written by hand. Geometric means: [4, 8, 2] -> 64^(1/3) = 4; [9, 3, 1] -> 27^(1/3) = 3;
    [8, 8, 8] -> 8; [2, 4, 8] -> 4; [10, 10, 10] -> 10; [4, 6, 9] -> 216^(1/3) = 6; [0, 0, 0] -> 0."""
    items = [BenchItem("add", f"{name}.mp4", "Add it.") for name in "abcdef"]
    name = {item.source[0]: item.video_name for item in items}
    records = {
        name["a"]: {"video_name": name["a"], "status": "judged", "response": answer([4, 8, 2], [9, 3, 1], [8, 8, 8])},
        name["b"]: {"video_name": name["b"], "status": "judged", "response": answer([2, 4, 8], [10, 10, 10], [4, 6, 9])},
        name["c"]: {"video_name": name["c"], "status": "malformed", "response": dict(ERROR_RESPONSE)},
        # d: never judged (missing); e: no answer could be had
        name["e"]: {"video_name": name["e"], "status": "failed", "error": "timeout"},
        # f: the judge's "identical videos" rule, all nine 0
        name["f"]: {"video_name": name["f"], "status": "judged", "response": answer([0, 0, 0], [0, 0, 0], [0, 0, 0])},
        # a result of a pair that is not in the instruction list any more
        "z_Add_it.mp4": {"video_name": "z_Add_it.mp4", "status": "judged", "response": answer([9, 9, 9], [9, 9, 9], [9, 9, 9])},
    }
    return items, records


def test_step2_by_hand_malformed_counted_as_the_authors_do():
    items, records = hand_records()
    scores = task_scores(items, records)
    # Scored: a, b, c (malformed: every category 0, like step 1's {"score": "error"}), f -> 4 pairs.
    # S_EA = (4 + 4 + 0 + 0) / 4 = 2;  S_VQ = (3 + 10 + 0 + 0) / 4 = 3.25;  S_VN = (8 + 6 + 0 + 0) / 4 = 3.5
    # S = (2 + 3.25 + 3.5) / 3 = 8.75 / 3 = 2.91666... -> 2.9167
    # Sub-dimensions over the pairs that gave numbers (a, b, f; not c):
    # SA (4+2+0)/3 = 2; SP (8+4+0)/3 = 4; CP (2+8+0)/3 = 3.3333; VF (9+10+0)/3 = 6.3333; TS (3+10+0)/3 = 4.3333;
    # ES (1+10+0)/3 = 3.6667; AN (8+4+0)/3 = 4; SN (8+6+0)/3 = 4.6667; MN (8+9+0)/3 = 5.6667
    assert scores["count"] == 4
    assert scores["sub_totals"] == {"edit_accuracy": 2.0, "video_quality": 3.25, "naturalness": 3.5}
    assert scores["weighted_overall"] == 2.9167
    assert scores["table"] == {"SA": 2.0, "SP": 4.0, "CP": 3.3333, "AN": 4.0, "SN": 4.6667, "MN": 5.6667,
                               "VF": 6.3333, "TS": 4.3333, "ES": 3.6667, "S_EA": 2.0, "S_VN": 3.5, "S_VQ": 3.25,
                               "S": 2.9167}
    assert scores["counts"] == {"judged": 3, "malformed": 1, "failed": 1, "missing": 1, "pairs": 6}
    assert scores["weights_used"] == {"edit_accuracy": 0.3333, "video_quality": 0.3333, "naturalness": 0.3333}


def test_step2_by_hand_malformed_skipped_and_weighted():
    items, records = hand_records()
    skipped = task_scores(items, records, malformed="skip")
    # a, b, f: S_EA = 8/3 = 2.6667; S_VQ = 13/3 = 4.3333; S_VN = 14/3 = 4.6667 (rounded before S, as step 2 does)
    # S = (2.6667 + 4.3333 + 4.6667) / 3 = 11.6667 / 3 = 3.88890 -> 3.8889
    assert skipped["count"] == 3
    assert skipped["sub_totals"] == {"edit_accuracy": 2.6667, "video_quality": 4.3333, "naturalness": 4.6667}
    assert skipped["weighted_overall"] == 3.8889
    # weights 2:1:1 -> 0.5, 0.25, 0.25: S = 2 * 0.5 + 3.25 * 0.25 + 3.5 * 0.25 = 1 + 0.8125 + 0.875 = 2.6875
    weighted = task_scores(items, records, weights=parse_weights("edit_accuracy=2,video_quality=1,naturalness=1"))
    assert weighted["weighted_overall"] == 2.6875
    assert weighted["weights_used"] == {"edit_accuracy": 0.5, "video_quality": 0.25, "naturalness": 0.25}
    with pytest.raises(ReCoInputError, match="--weights"):
        parse_weights("quality=2")


def test_step2_quirks_are_kept():
    assert geometric_mean(["8", 8, 8]) == pytest.approx(8.0)  # numbers as text count
    assert geometric_mean([-1, 9, 9]) == 0.0 and geometric_mean([None, 9, 9]) == 0.0 and geometric_mean([]) == 0.0
    # a negative score zeroes its category but still enters the sub-dimension mean: SA = (-1 + 5) / 2 = 2
    scores = step2_scores([answer([-1, 9, 9], [1, 1, 1], [1, 1, 1]), answer([5, 5, 5], [1, 1, 1], [1, 1, 1])])
    assert scores["per_indicator_avg"]["edit_accuracy"]["SA"] == 2.0
    assert scores["sub_totals"]["edit_accuracy"] == 2.5  # (0 + 5) / 2
    # a repeated instruction line is one edit, counted on each line as step 2 counts it
    item = BenchItem("add", "a.mp4", "Add it.")
    records = {item.video_name: {"video_name": item.video_name, "status": "judged",
                                 "response": answer([1, 1, 1], [8, 8, 8], [1, 1, 1])}}
    assert task_scores([item, item], records)["count"] == 2
    assert step2_scores([]) == {"per_indicator_avg": {"edit_accuracy": {"SA": 0.0, "SP": 0.0, "CP": 0.0},
                                                      "video_quality": {"VF": 0.0, "TS": 0.0, "ES": 0.0},
                                                      "naturalness": {"AN": 0.0, "SN": 0.0, "MN": 0.0}},
                                "sub_totals": {"edit_accuracy": 0.0, "video_quality": 0.0, "naturalness": 0.0},
                                "weights_used": {}, "weighted_overall": 0.0, "count": 0}


def test_the_table_has_the_papers_columns():
    items, records = hand_records()
    table = format_table({"add": task_scores(items, records)})
    header, _, row = table.splitlines()
    assert header.split() == ["task", "scored", "SA", "SP", "CP", "AN", "SN", "MN", "VF", "TS", "ES", "S_EA",
                              "S_VN", "S_VQ", "S", "not", "judged"]
    assert row.split() == ["add", "4", "2.00", "4.00", "3.33", "4.00", "4.67", "5.67", "6.33", "4.33", "3.67",
                           "2.00", "3.50", "3.25", "2.92", "2"]
    assert format_table({"add": task_scores(items, records)}, markdown=True).startswith("| task | scored | SA |")
