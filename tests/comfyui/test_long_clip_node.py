"""ReCo Long Clip Edit in a real ComfyUI (tiny random weights): every frame comes back, the first window is the
hand-wired graph, later windows are chained in first-frame mode and blended, a short clip is padded and trimmed,
the region MASK is sliced per window, progress runs over the whole clip, and cancel stops within a step."""

import base64
import json
import os
import socket
import threading
import urllib.parse
import uuid

import pytest
import torch

from comfyui_client import PromptExecutionError, status_messages, wait_for_lines

W, H, LENGTH, FRAMES = 32, 32, 5, 13  # 13 frames in windows of 5 sharing 1: starts 0, 4, 8


def unique(prefix):
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def inputs(g, models, frames=FRAMES):
    source = g.node("ReCoTestVideoFrames", width=W, height=H, frames=frames, seed=4)
    positive = g.node("ReCoTestConditioning", seed=1, tokens=8)
    negative = g.node("ReCoTestConditioning", seed=2, tokens=8)
    model = g.node("UNETLoader", unet_name=models["vace"], weight_dtype="default")
    vae = g.node("VAELoader", vae_name=models["vae"])
    return source, positive, negative, model, vae


def long_edit(g, model, positive, negative, vae, images, overlap=1, steps=3, **extra):
    return g.node("ReCoLongClipEdit", model=model.out(0), positive=positive.out(0), negative=negative.out(0),
                  vae=vae.out(0), source=images, width=W, height=H, length=LENGTH, overlap=overlap, seed=3,
                  steps=steps, cfg=2.0, sampler_name="euler", scheduler="simple", strength=1.0,
                  region=extra.pop("region", "off"), **extra)


def hand_wired(g, model, positive, negative, vae, images, steps=3, first_frame=None):
    """ReCo In-Context Edit -> ReCo Sampler -> ReCo Decode, what a user wires for one window."""
    context = g.node("ReCoInContext", positive=positive.out(0), negative=negative.out(0), vae=vae.out(0),
                     source=images, width=W, height=H, length=LENGTH, strength=1.0, keep_source=False,
                     **({"first_frame": first_frame} if first_frame is not None else {}))
    sampled = g.node("ReCoSampler", model=model.out(0), positive=context.out(0), negative=context.out(1),
                     latent_image=context.out(2), seed=3, steps=steps, cfg=2.0, sampler_name="euler",
                     scheduler="simple", region="off", background=0.8, attention="region")
    return g.node("ReCoDecode", vae=vae.out(0), samples=sampled.out(0))


def frames_of(g, images, start, length=LENGTH):
    return g.node("ImageFromBatch", image=images, batch_index=start, length=length).out(0)


def save(g, name, **tensors):
    return g.node("ReCoTestSaveTensors", name=unique(name), **tensors)


def test_every_frame_comes_back_and_each_window_is_the_hand_wired_graph(comfy, graph, tiny_models):
    source, positive, negative, model, vae = inputs(graph, tiny_models)
    chained = long_edit(graph, model, positive, negative, vae, source.out(0))
    independent = long_edit(graph, model, positive, negative, vae, source.out(0), windows="independent")
    window_1 = hand_wired(graph, model, positive, negative, vae, frames_of(graph, source.out(0), 0))
    # Window 2 (frames 4..8) by hand: in first-frame mode with the chained edit's frame 4, and on its own.
    window_2_chained = hand_wired(graph, model, positive, negative, vae, frames_of(graph, source.out(0), 4),
                                  first_frame=frames_of(graph, chained.out(0), 4, 1))
    window_2_alone = hand_wired(graph, model, positive, negative, vae, frames_of(graph, source.out(0), 4))
    saves = [save(graph, "chain", image=chained.out(0), mask=chained.out(2)),
             save(graph, "independent", image=independent.out(0)), save(graph, "hand_1", image=window_1.out(0)),
             save(graph, "hand_2_chained", image=window_2_chained.out(0)),
             save(graph, "hand_2_alone", image=window_2_alone.out(0)),
             save(graph, "comparison", image=chained.out(1)), save(graph, "source", image=source.out(0))]
    entry = comfy.run_prompt(graph, timeout=900)
    loaded = [comfy.saved_tensors(entry, node.id) for node in saves]
    chain, alone, hand_1, hand_2c, hand_2a, compare, clip = (tensors["image"] for tensors in loaded)
    region = loaded[0]["mask"]
    assert tuple(chain.shape) == (FRAMES, H, W, 3) and tuple(alone.shape) == (FRAMES, H, W, 3)
    assert tuple(region.shape) == (FRAMES, H, W) and region.sum() == 0  # region off
    # Window 1 is exactly the hand-wired graph; frame 4, where window 2 starts, is handed on unchanged (weight 0).
    assert torch.equal(chain[:LENGTH], hand_1) and torch.equal(alone[:LENGTH], hand_1)
    # Window 2's own frames (5..7, and 8, which window 3 starts from) are window 2 edited by hand: with the chained
    # edit's frame 4 as ReCo's first frame, or on its own.
    assert torch.equal(chain[LENGTH:2 * LENGTH - 1], hand_2c[1:])
    assert torch.equal(alone[LENGTH:2 * LENGTH - 1], hand_2a[1:])
    assert not torch.equal(hand_2c, hand_2a), "the first frame must change the window's edit"
    assert torch.equal(compare[..., :W, :], clip) and torch.equal(compare[..., W:, :], chain)
    notes = entry["outputs"][chained.id]["reco_notes"]
    assert "3 windows of 5 frames" in notes[0] and "first-frame mode" in notes[1], notes


def test_a_short_clip_is_one_window_padded_and_trimmed(comfy, graph, tiny_models):
    source, positive, negative, model, vae = inputs(graph, tiny_models, frames=3)
    edit = long_edit(graph, model, positive, negative, vae, source.out(0), overlap=2)
    by_hand = hand_wired(graph, model, positive, negative, vae, source.out(0))
    a, b = save(graph, "short", image=edit.out(0)), save(graph, "short_hand", image=by_hand.out(0))
    entry = comfy.run_prompt(graph, timeout=600)
    short, hand = comfy.saved_tensors(entry, a.id), comfy.saved_tensors(entry, b.id)
    assert tuple(short["image"].shape) == (3, H, W, 3)
    assert torch.equal(short["image"], hand["image"])
    assert any("padded with 2 copies" in note for note in entry["outputs"][edit.id]["reco_notes"])


def test_a_mask_is_sliced_per_window_and_the_region_covers_every_frame(comfy, graph, tiny_models):
    source, positive, negative, model, vae = inputs(graph, tiny_models)
    edit = long_edit(graph, model, positive, negative, vae, source.out(0), region="mask", mask=source.out(1),
                     background=1.0)
    a, b = save(graph, "region", mask=edit.out(2)), save(graph, "square", mask=source.out(1))
    entry = comfy.run_prompt(graph, timeout=600)
    region, square = comfy.saved_tensors(entry, a.id)["mask"], comfy.saved_tensors(entry, b.id)["mask"] > 0.5
    assert tuple(region.shape) == (FRAMES, H, W)
    assert not torch.equal(square[0], square[-1]), "the square must move for this test to mean anything"
    assert bool((region[square] > 0.5).all()), "every masked pixel of every frame is in the region used"
    assert float(region.mean()) < 0.9


def test_auto_region_is_found_in_every_window(comfy, graph, tiny_models):
    source, positive, negative, model, vae = inputs(graph, tiny_models)
    edit = long_edit(graph, model, positive, negative, vae, source.out(0), region="auto", steps=4)
    a = save(graph, "auto", mask=edit.out(2))
    region = comfy.saved_tensors(comfy.run_prompt(graph, timeout=600), a.id)["mask"]
    assert tuple(region.shape) == (FRAMES, H, W)
    for start, end in ((0, 5), (4, 9), (8, 13)):
        assert region[start:end].sum() > 0, f"no region in the window of frames {start}..{end - 1}"


def test_bad_overlap_is_refused_with_a_clear_message(comfy, graph, tiny_models):
    source, positive, negative, model, vae = inputs(graph, tiny_models)
    edit = long_edit(graph, model, positive, negative, vae, source.out(0), overlap=5)
    save(graph, "never", image=edit.out(0))
    with pytest.raises(PromptExecutionError) as error:
        comfy.run_prompt(graph, timeout=120)
    (failure,) = status_messages(error.value.entry, "execution_error")
    assert failure["exception_message"].startswith("overlap: 5 is outside 1..4")
    assert "Traceback" not in failure["exception_message"]


# --- progress and cancel ------------------------------------------------------------------------------------------
class ProgressListener:
    """A minimal websocket client (stdlib) on /ws that keeps the "progress" messages for one node."""

    def __init__(self, url, client_id):
        parsed = urllib.parse.urlparse(url)
        self.sock = socket.create_connection((parsed.hostname, parsed.port), timeout=600)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET /ws?clientId={client_id} HTTP/1.1\r\nHost: {parsed.netloc}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n")
                          .encode())
        header = b""
        while b"\r\n\r\n" not in header:
            header += self.sock.recv(1)
        assert b" 101 " in header.split(b"\r\n")[0], header
        self.messages = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _exact(self, count):
        data = b""
        while len(data) < count:
            chunk = self.sock.recv(count - len(data))
            if not chunk:
                raise ConnectionError
            data += chunk
        return data

    def _read(self):
        try:
            while True:
                first, second = self._exact(2)
                length = second & 0x7F
                if length == 126:
                    length = int.from_bytes(self._exact(2), "big")
                elif length == 127:
                    length = int.from_bytes(self._exact(8), "big")
                payload = self._exact(length)
                if first & 0x0F == 1:
                    self.messages.append(json.loads(payload))
        except (ConnectionError, OSError, ValueError):
            return

    def progress(self, node_id):
        return [(m["data"]["value"], m["data"]["max"]) for m in list(self.messages)
                if m.get("type") == "progress" and str(m["data"].get("node")) == str(node_id)]

    def close(self):
        self.sock.close()


def test_progress_runs_over_every_window(comfy, graph, tiny_models, comfyui_server):
    listener = ProgressListener(comfyui_server.url, comfy.client_id)
    try:
        source, positive, negative, model, vae = inputs(graph, tiny_models)
        edit = long_edit(graph, model, positive, negative, vae, source.out(0), steps=2)
        save(graph, "progress", image=edit.out(0))
        comfy.run_prompt(graph, timeout=600)
        values = listener.progress(edit.id)
    finally:
        listener.close()
    assert values, "no progress messages for the node"
    assert {total for _, total in values} == {3 * 2}, values  # 3 windows of 2 steps, one bar
    assert [value for value, _ in values] == sorted(value for value, _ in values) and values[-1][0] == 6, values


def test_cancel_stops_within_a_step(comfy, graph, tiny_models, comfyui_server):
    name = unique("steps")
    source, positive, negative, model, vae = inputs(graph, tiny_models)
    counted = graph.node("ReCoTestStepCounter", model=model.out(0), name=name, delay=0.2)
    edit = long_edit(graph, counted, positive, negative, vae, source.out(0), steps=500)
    save(graph, "never", image=edit.out(0))
    steps_file = comfyui_server.output_dir / "reco_test" / f"{name}.steps"
    prompt_id = comfy.submit(graph)
    calls = wait_for_lines(steps_file, 2)
    comfy.interrupt()
    entry = comfy.wait(prompt_id, timeout=60, check=False)
    assert status_messages(entry, "execution_interrupted")[0]["node_type"] == "ReCoLongClipEdit"
    assert len(steps_file.read_text().splitlines()) <= calls + 2


def test_windows_write_no_sampler_previews(comfy, graph, tiny_models, comfyui_server):
    """Each window samples through ReCo Sampler's sampling only: the node's one preview is its before/after, not
    a region preview per window."""
    def region_previews():
        return set(comfyui_server.base_dir.rglob("reco_region_*"))

    before = region_previews()
    source, positive, negative, model, vae = inputs(graph, tiny_models)
    edit = long_edit(graph, model, positive, negative, vae, source.out(0), region="auto")
    save(graph, "no_previews", image=edit.out(0))
    comfy.run_prompt(graph, timeout=600)
    assert region_previews() == before
