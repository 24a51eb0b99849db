"""The offline ReCo-Bench judges: ground-truth metrics in the ReCo-Shapes world, and a tiny local VLM."""

import json
import threading
from pathlib import Path

import pytest
import torch

from reco_core.cli import main
from reco_core.recobench.benchmarks import ReCoBench, ShapesBench
from reco_core.recobench.metrics_judge import answer_json, nine_scores
from reco_core.recobench.answers import read_answer
from reco_core.recobench.runner import judge_benchmark
from reco_core.video import write_video
from test_recobench_judges import bench, clip  # noqa: F401  (fixtures)
from test_recobench_protocol import PROMPT

LABELS = ("SA", "SP", "CP", "AN", "SN", "MN", "VF", "TS", "ES")


@pytest.fixture(scope="module")
def shapes_pairs():
    pairs = ShapesBench(count=1)
    return {task: (pairs.items(task)[0], pairs.truth(pairs.items(task)[0])) for task in ("replace", "style")}


@pytest.mark.parametrize("task", ["replace", "style"])
def test_metrics_judge_scores_the_truth_ten_and_an_unchanged_clip_zero(shapes_pairs, task):
    _, pair = shapes_pairs[task]
    truth = nine_scores(pair.target, pair)
    assert truth == pytest.approx(dict.fromkeys(LABELS, 1.0))
    assert nine_scores(pair.source, pair) == dict.fromkeys(LABELS, 0.0)  # the prompt's "identical videos" rule
    # An edit that reverts to the source for its last third keeps less of the edit late than early.
    reverting = pair.target.clone()
    cut = 2 * pair.target.shape[0] // 3
    reverting[cut:] = pair.source[cut:]
    scores = nine_scores(reverting, pair)
    assert scores["ES"] < 0.6 and scores["SA"] < 1.0 and scores["TS"] <= 1.0
    parsed = read_answer(answer_json(scores))
    assert parsed.error is None and parsed.response["video_quality"]["scores"][2] == round(10 * scores["ES"], 2)


def test_bench_reco_shapes_with_the_metrics_judge_fills_the_table(tmp_path, shapes_pairs, capsys):
    item, pair = shapes_pairs["replace"]
    write_video(tmp_path / "edits" / Path(item.video_name).stem, pair.target, fps=8)  # a perfect edit, as PNG frames
    args = ["bench", "reco", "--shapes", "--count", "1", "--task", "replace", "--task", "style", "--judge", "metrics",
            "--edits", str(tmp_path / "edits"), "--quiet"]
    assert main(args) == 0
    scores = json.loads((tmp_path / "edits" / "recobench-metrics" / "scores.json").read_text())
    replace, style = scores["tasks"]["replace"], scores["tasks"]["style"]
    assert replace["table"] == dict.fromkeys(LABELS + ("S_EA", "S_VN", "S_VQ", "S"), 10.0)
    assert style["count"] == 0 and style["counts"]["failed"] == 1  # no edit for it
    assert "no edit shapes_style_" in json.loads((tmp_path / "edits" / "recobench-metrics" / "style.json")
                                                  .read_text())["items"].popitem()[1]["error"]
    assert "1 pairs not judged" in capsys.readouterr().out


def build_tiny_vlm(folder):
    """A random tiny LLaVA with a word-level tokenizer, saved like a downloaded model. Its output layer is zero,
    so it always says token 0, "9": the answer is "9 9 9 ...", never JSON."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (CLIPImageProcessor, CLIPVisionConfig, LlamaConfig, LlavaConfig,
                              LlavaForConditionalGeneration, LlavaProcessor, PreTrainedTokenizerFast)

    words = ["9", "<pad>", "<s>", "</s>", "<unk>", "<image>", "{", "}", "scores", "user", "assistant", ":"]
    vocab = {word: index for index, word in enumerate(words)}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="<pad>", bos_token="<s>",
                                        eos_token="</s>", unk_token="<unk>", extra_special_tokens={"image_token": "<image>"})
    template = ("{% for m in messages %}{{ m['role'] }} : {% for c in m['content'] %}{% if c['type'] == 'image' %}"
                "<image> {% else %}{{ c['text'] }} {% endif %}{% endfor %}{% endfor %}"
                "{% if add_generation_prompt %}assistant : {% endif %}")
    processor = LlavaProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": 16},
                                                                  crop_size={"height": 16, "width": 16}),
                               tokenizer=tokenizer, patch_size=8, vision_feature_select_strategy="default",
                               num_additional_image_tokens=1, chat_template=template)
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                                       image_size=16, patch_size=8),
        text_config=LlamaConfig(vocab_size=len(words), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                num_attention_heads=2, num_key_value_heads=2),
        image_token_index=vocab["<image>"], vision_feature_layer=-1)
    torch.manual_seed(0)
    model = LlavaForConditionalGeneration(config)
    with torch.no_grad():
        model.lm_head.weight.zero_()
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def test_local_vlm_judge_sees_step1s_images_and_prompt_and_its_bad_answer_is_kept(bench, tmp_path):  # noqa: F811
    from reco_core.recobench.frames import judge_images
    from reco_core.recobench.local_judge import LocalVLMJudge
    from reco_core.video import read_video

    judge = LocalVLMJudge(str(build_tiny_vlm(tmp_path / "tiny-vlm")), device="cpu", max_new_tokens=4)
    judge._load()
    seen = []
    template = judge._processor.apply_chat_template
    judge._processor.apply_chat_template = lambda messages, **kw: seen.append(messages) or template(messages, **kw)
    pairs = ReCoBench(bench / "ReCo-Bench", bench / "sources", bench / "edits")
    report = judge_benchmark(pairs, ["remove"], judge, bench / "edits", bench / "results", prompt=PROMPT,
                             cancel=threading.Event())
    content = seen[0][0]["content"]
    source = read_video(bench / "sources" / "clip_b.mp4").frames
    edit = read_video(next((bench / "edits").glob("clip_b_Remove*"))).frames
    assert [part["type"] for part in content] == ["image"] * len(judge_images(source, edit)) + ["text"]
    assert content[-1]["text"] == PROMPT + "instruction: Remove the dog."
    record = json.loads((bench / "results" / "remove.json").read_text())["items"].popitem()[1]
    assert record["status"] == "malformed" and record["answer"].split() == ["9"] * 4
    assert "no complete {...} JSON object" in record["error"]
    assert report["judge"] == {"kind": "local", "model": "tiny-vlm", "max_new_tokens": 4}


def test_local_judge_folder_is_checked_before_loading(capsys, bench):  # noqa: F811
    args = ["bench", "reco", "--bench-dir", str(bench / "ReCo-Bench"), "--edits", str(bench / "edits"),
            "--task", "add", "--judge", "local", "--judge-model", str(bench / "nowhere")]
    assert main(args) == 2
    assert "no config.json" in capsys.readouterr().err
