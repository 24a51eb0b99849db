"""ReCo-Bench judges end to end: a local server speaking the OpenAI chat API, a tiny local VLM, the metrics judge,
making the edits with the edit command's path, resuming and cancelling. No network."""

import base64
import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch
from PIL import Image

from reco_core.cli import main
from reco_core.errors import CancelledError
from reco_core.recobench.benchmarks import ReCoBench
from reco_core.recobench.frames import judge_images
from reco_core.recobench.judges import OpenAIChatJudge
from reco_core.recobench.protocol import edit_name
from reco_core.recobench.runner import judge_benchmark
from reco_core.video import read_video, write_video
from test_recobench_protocol import GOOD, PROMPT, write_bench_dir

KEY = "sk-test-7f3a9c1e5b"
KEY_ENV = "RECO_TEST_JUDGE_KEY"
ADD = ["clip_a.mp4: Add a red hat.", "clip_b.mp4: Add a small, blue bird.", "clip_a.mp4: Add confetti: falling."]
REMOVE = ["clip_b.mp4: Remove the dog."]


class ChatServer:
    """An OpenAI-compatible /v1/chat/completions that records every request and answers per instruction:
    "red hat" well (in prose and a code fence), "blue bird" only after a first request it leaves unanswered
    past the client's timeout, "busy" after a first HTTP 503, "confetti" with no JSON, "the dog" with HTTP 401
    echoing the key."""

    def __init__(self, delay=1.5):
        self.requests, self.delay, self.seen = [], delay, {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                status, text = server.reply(body["messages"][0]["content"][-1]["text"])
                payload = (json.dumps({"choices": [{"message": {"role": "assistant", "content": text}}]})
                           if status == 200 else json.dumps({"error": {"message": text}})).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.handle_error = lambda *args: None  # the client hung up on the delayed reply, as intended
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def reply(self, text):
        instruction = text.rsplit("instruction: ", 1)[-1]
        count = self.seen[instruction] = self.seen.get(instruction, 0) + 1
        if "blue bird" in instruction and count == 1:
            time.sleep(self.delay)
        if "busy" in instruction and count == 1:
            return 503, "overloaded, try again"
        if "the dog" in instruction:
            return 401, f"Incorrect API key provided: {KEY}"
        if "confetti" in instruction:
            return 200, "The edit looks fine to me."
        return 200, f"Sure.\n```json\n{GOOD}\n```"

    def for_instruction(self, fragment):
        return [r for r in self.requests if fragment in r["body"]["messages"][0]["content"][-1]["text"]]


@pytest.fixture
def server():
    chat = ChatServer()
    yield chat
    chat.httpd.shutdown()


def clip(seed, frames=17, height=32, width=48):
    return torch.rand(frames, height, width, 3, generator=torch.Generator().manual_seed(seed))


@pytest.fixture
def bench(tmp_path):
    """A ReCo-Bench folder, two sources and an edit for every pair (mp4, named as step 1 expects)."""
    folder = write_bench_dir(tmp_path / "ReCo-Bench", tasks={"add": ADD, "remove": REMOVE})
    for seed, name in enumerate(("clip_a.mp4", "clip_b.mp4")):
        write_video(tmp_path / "sources" / name, clip(seed), fps=8)
    for seed, line in enumerate(ADD + REMOVE, start=10):
        source, instruction = (part.strip() for part in line.split(":", 1))
        write_video(tmp_path / "edits" / edit_name(source, instruction), clip(seed), fps=8)
    return tmp_path


def bench_args(root, *extra):
    return ["bench", "reco", "--bench-dir", str(root / "ReCo-Bench"), "--sources", str(root / "sources"),
            "--edits", str(root / "edits"), "--out", str(root / "results"), "--quiet", *extra]


def judge_args(server, *extra):
    return ["--task", "add", "--task", "remove", "--judge", "openai", "--endpoint", server.url, "--judge-model", "test-vlm", "--api-key-env", KEY_ENV,
            "--timeout", "0.5", "--retries", "2", "--backoff", "0.01", "--workers", "2", *extra]


def files_text(root):
    return b"".join(path.read_bytes() for path in root.rglob("*") if path.is_file())


def test_openai_judge_requests_parsing_retries_and_no_key_anywhere(bench, server, monkeypatch, capsys, caplog):
    monkeypatch.setenv(KEY_ENV, KEY)
    assert main(bench_args(bench, *judge_args(server))) == 0
    output = capsys.readouterr()

    # The request: step 1's message, the key only in the Authorization header.
    request = server.for_instruction("red hat")[0]
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == f"Bearer {KEY}"
    body = request["body"]
    assert body["model"] == "test-vlm" and body["max_tokens"] == 8192 and len(body["messages"]) == 1
    content = body["messages"][0]["content"]
    assert content[-1] == {"type": "text", "text": PROMPT + "instruction: Add a red hat."}
    urls = [part["image_url"]["url"] for part in content[:-1]]
    assert all(part["type"] == "image_url" for part in content[:-1]) and len(urls) == 3  # frames 0, 8, 16 of 17
    assert all(url.startswith("data:image/jpeg;base64,") for url in urls)
    sent = [base64.b64decode(url.split(",", 1)[1]) for url in urls]
    source = read_video(bench / "sources" / "clip_a.mp4").frames
    edit = read_video(bench / "edits" / edit_name("clip_a.mp4", "Add a red hat.")).frames
    assert sent == judge_images(source, edit)
    assert Image.open(io.BytesIO(sent[0])).size == (1536, 512)  # 96x32 -> 672x224 -> shorter side 512

    records = json.loads((bench / "results" / "add.json").read_text())["items"]
    hat, bird, confetti = (records[edit_name(*(p.strip() for p in line.split(":", 1)))] for line in ADD)
    assert hat["status"] == "judged" and hat["response"]["naturalness"]["scores"] == [6, 8.5, 8]
    # A timeout is retried: two requests, the second answered.
    assert len(server.for_instruction("blue bird")) == 2 and bird["status"] == "judged" and bird["attempts"] == 2
    # A malformed answer is kept with its reason and the raw text, and scored as step 2 scores it.
    assert confetti["status"] == "malformed" and "no complete {...} JSON object" in confetti["error"]
    assert confetti["answer"] == "The edit looks fine to me." and confetti["response"] == {"score": "error"}
    # HTTP 401 is not retried; the key the server echoed is scrubbed from the stored reason.
    dog = json.loads((bench / "results" / "remove.json").read_text())["items"]
    dog = dog[edit_name("clip_b.mp4", "Remove the dog.")]
    assert len(server.for_instruction("the dog")) == 1 and dog["status"] == "failed"
    assert "HTTP 401" in dog["error"] and "***" in dog["error"] and "--api-key-env" in dog["error"]

    scores = json.loads((bench / "results" / "scores.json").read_text())
    add = scores["tasks"]["add"]
    # GOOD's means: EA (8*9*10)^(1/3) = 8.9628, VQ (7*7*9)^(1/3) = 7.6117, NA (6*8.5*8)^(1/3) = 7.4169; the
    # malformed pair scores 0: S_EA = 2 * 8.9628 / 3 = 5.9752
    assert add["count"] == 3 and add["table"]["S_EA"] == pytest.approx(2 * 720 ** (1 / 3) / 3, abs=1e-4)
    assert add["counts"] == {"judged": 2, "malformed": 1, "failed": 0, "missing": 0, "pairs": 3}
    assert scores["judge"] == {"kind": "openai", "endpoint": server.url, "model": "test-vlm", "max_tokens": 8192}
    assert "1 pairs not judged" in output.out and "1 malformed answers" in output.out

    # The key is nowhere on disk, in the output or in the logs.
    assert KEY.encode() not in files_text(bench)
    assert KEY not in output.out + output.err + caplog.text

    # Resuming judges only the pair that failed (401 again); judged and malformed pairs are never sent again.
    before = len(server.requests)
    assert main(bench_args(bench, *judge_args(server))) == 0
    assert len(server.requests) == before + 1 and len(server.for_instruction("the dog")) == 2
    # --rejudge malformed asks again for the malformed one only (and the failed one).
    assert main(bench_args(bench, *judge_args(server, "--rejudge", "malformed"))) == 0
    assert len(server.requests) == before + 3 and len(server.for_instruction("confetti")) == 2
    assert KEY.encode() not in files_text(bench)


def test_results_of_another_judge_are_never_mixed(bench, server, capsys):
    args = bench_args(bench, "--task", "add", "--judge", "openai", "--endpoint", server.url, "--judge-model", "one",
                      "--timeout", "0.5", "--retries", "1", "--backoff", "0.01")
    assert main(args) == 0
    args[args.index("one")] = "two"
    assert main(args) == 2
    assert "another judge" in capsys.readouterr().err


def test_missing_key_variable_and_bad_endpoint_are_named(bench, monkeypatch, capsys):
    monkeypatch.delenv(KEY_ENV, raising=False)
    base = bench_args(bench, "--judge", "openai", "--judge-model", "m")
    assert main(base + ["--endpoint", "http://127.0.0.1:9/v1", "--api-key-env", KEY_ENV]) == 2
    assert f"{KEY_ENV} is not set" in capsys.readouterr().err
    assert main(base + ["--endpoint", "localhost:8000"]) == 2
    assert "--endpoint" in capsys.readouterr().err
    assert main(bench_args(bench, "--judge", "metrics")) == 2
    assert "--shapes" in capsys.readouterr().err


def test_cancel_stops_and_a_rerun_finishes_without_judging_twice(bench, server):
    root = bench
    judge = OpenAIChatJudge(server.url, "test-vlm", timeout=5, retries=0)
    pairs = ReCoBench(root / "ReCo-Bench", root / "sources", root / "edits")
    cancel = threading.Event()
    with pytest.raises(CancelledError):
        judge_benchmark(pairs, ["add"], judge, root / "edits", root / "results", prompt=PROMPT, cancel=cancel,
                        progress=lambda done, total, record: cancel.set())
    stored = json.loads((root / "results" / "add.json").read_text())["items"]
    assert len(stored) == 1 and len(server.requests) == 1
    report = judge_benchmark(pairs, ["add"], judge, root / "edits", root / "results", prompt=PROMPT)
    assert report["judged_now"] == 2 and len(server.requests) == 3
    assert report["tasks"]["add"]["counts"]["pairs"] == 3


def test_edits_are_made_with_the_edit_commands_path_then_judged(tmp_path, server):
    """Tiny random Wan models: the missing edits are made under step 1's names, the sources as the model saw them
    go to model_sources/ (5 frames at 32x32, where the raw sources have 17 at 48x32), and the judge uses those."""
    from reco_core.models.saving import save_transformer, save_vae
    from reco_core.models.tiny import build_tiny_text_encoder, build_tiny_transformer, build_tiny_vae

    models = tmp_path / "models"
    save_transformer(build_tiny_transformer(), models / "model.safetensors")
    save_vae(build_tiny_vae(), models / "vae.safetensors")
    build_tiny_text_encoder().save(models / "text_encoder")
    write_bench_dir(tmp_path / "ReCo-Bench", tasks={"add": ADD[:2]})
    for seed, name in enumerate(("clip_a.mp4", "clip_b.mp4")):
        write_video(tmp_path / "sources" / name, clip(seed), fps=8)
    edit = (f"--model {models / 'model.safetensors'} --vae {models / 'vae.safetensors'} --text-encoder "
            f"{models / 'text_encoder'} --size 32x32 --steps 2 --frames 5")
    args = bench_args(tmp_path, "--task", "add", "--edit", edit, "--judge", "openai", "--endpoint", server.url,
                      "--judge-model", "test-vlm", "--timeout", "5")
    assert main(args) == 0
    made = read_video(tmp_path / "edits" / edit_name("clip_a.mp4", "Add a red hat.")).frames
    seen = read_video(tmp_path / "edits" / "model_sources" / "clip_a.mp4").frames
    assert made.shape == seen.shape == (5, 32, 32, 3)
    records = json.loads((tmp_path / "results" / "add.json").read_text())["items"]
    assert [record["status"] for record in records.values()] == ["judged", "judged"]
    hat = server.for_instruction("red hat")[0]["body"]["messages"][0]["content"]
    assert len(hat) == 2  # five frames: only frame 0 is sent, then the text
    # Edits already there are not made again.
    assert main(args) == 0
    assert (tmp_path / "edits" / edit_name("clip_a.mp4", "Add a red hat.")).stat().st_size > 0


def test_bad_edit_flags_are_named(bench, capsys):
    assert main(bench_args(bench, "--edit", "--model shapes --out x.mp4")) == 2
    assert "--out" in capsys.readouterr().err
    assert main(bench_args(bench, "--edit", "--steps 2 --frames 5")) == 2
    assert "no --model" in capsys.readouterr().err
    assert main(["bench", "reco", "--shapes", "--count", "1", "--task", "add", "--edits", str(bench / "shapes"),
                 "--edit", "--model shapes", "--prompt", "caption"]) == 2
    assert "--prompt" in capsys.readouterr().err and not (bench / "shapes").exists()


def test_a_server_error_is_retried_after_a_backoff(tmp_path, server):
    write_bench_dir(tmp_path / "ReCo-Bench", tasks={"add": ["clip_a.mp4: Add a busy bee."]})
    write_video(tmp_path / "sources" / "clip_a.mp4", clip(0), fps=8)
    write_video(tmp_path / "edits" / edit_name("clip_a.mp4", "Add a busy bee."), clip(1), fps=8)
    judge = OpenAIChatJudge(server.url, "test-vlm", timeout=5, retries=1, backoff=0.2)
    pairs = ReCoBench(tmp_path / "ReCo-Bench", tmp_path / "sources", tmp_path / "edits")
    started = time.time()
    report = judge_benchmark(pairs, ["add"], judge, tmp_path / "edits", tmp_path / "results", prompt=PROMPT)
    assert time.time() - started >= 0.2 and len(server.requests) == 2
    assert report["tasks"]["add"]["counts"]["judged"] == 1
