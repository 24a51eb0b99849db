"""The pack's front end in the real ComfyUI front end: the viewers (web/reco_viewer.js), help pages, translations.

- nodes/previews.py's ui contract, from one small graph run through the server (tiny random Wan-VACE:
  ReCoInContext -> ReCoSampler, region auto -> ReCoDecode): ReCoDecode's `reco_compare` names the source and
  edit clips, ReCoSampler's `reco_region` the sampled preview and the region mask, all WebM served by /view,
  of the clip's length and size, holding what they should;
- in headless Chromium, the same graph loaded as a workflow and queued from the UI (so the nodes' onExecuted
  fire): both viewers load their videos; the wipe moves when dragged (the pixels change); frame stepping by
  button and arrow key moves the counter and keeps the two videos on one frame; paused playback leaves them
  aligned; the region tint toggles (the pixels change); outputs the front end restores (app.nodeOutputs) show
  again;
- every ReCo node's help page (English and Chinese) in the node library's help panel;
- /i18n serves locales/<lang>/*.json, complete for every ReCo input and output, English equal to the schema;
- a graph without ReCo nodes loads cleanly and the viewers are torn down with their nodes;
- no console errors or warnings from the pack.

Needs a ComfyUI (see conftest.py). The browser tests also need Chromium (`chromium`, `chromium-browser` or
`google-chrome` on PATH, or env CHROME_PATH) and skip without it. Their screenshots go to pytest's tmp folder
(the docs' pictures of the viewers come from the shapes workflow run: tests/comfyui/test_workflows.py).
"""
import json
import re
import time
from pathlib import Path

import pytest

from comfyui_client import Graph
from reco_core.video import probe_video, read_mask_video, read_video
from viewer_page import (COMPARE, REGION, click, counter, deselect, drag_wipe, first_frame, frontend_tab,
                         mean_difference, mouse, node_box, pause, press_key, rect, screenshot, settled, videos,
                         wipe_position)

REPO_ROOT = Path(__file__).resolve().parents[2]
WEB_JS = REPO_ROOT / "web" / "reco_viewer.js"
DOCS = REPO_ROOT / "web" / "docs"
W, H, LENGTH, FPS = 64, 48, 9, 16.0
MARKDOWN_IMAGE = re.compile(r"!\[.*?\]\(([^)\s]+)\)")  # the alt text may hold brackets: [source | target]


# --- the graph and its run ------------------------------------------------------------------------------------
def reco_graph(graph, models, seed=3):
    source = graph.node("ReCoTestVideoFrames", width=W, height=H, frames=LENGTH, seed=4)
    positive = graph.node("ReCoTestConditioning", seed=1, tokens=8)
    negative = graph.node("ReCoTestConditioning", seed=2, tokens=8)
    model = graph.node("UNETLoader", unet_name=models["vace"], weight_dtype="default")
    vae = graph.node("VAELoader", vae_name=models["vae"])
    context = graph.node("ReCoInContext", positive=positive.out(0), negative=negative.out(0), vae=vae.out(0),
                         source=source.out(0), width=W, height=H, length=LENGTH, strength=1.0, keep_source=False)
    sampler = graph.node("ReCoSampler", model=model.out(0), positive=context.out(0), negative=context.out(1),
                         latent_image=context.out(2), seed=seed, steps=3, cfg=2.0, sampler_name="euler",
                         scheduler="simple", region="auto", background=0.8, attention="region", detect_at=0.5)
    decode = graph.node("ReCoDecode", vae=vae.out(0), samples=sampler.out(0), source=source.out(0))
    save = graph.node("ReCoTestSaveTensors", name="web_extension", image=decode.out(1), mask=sampler.out(1))
    return {"sampler": sampler.id, "decode": decode.id, "save": save.id}


@pytest.fixture(scope="module")
def run(comfy, tiny_models):
    graph = Graph()
    ids = reco_graph(graph, tiny_models)
    prompt = graph.prompt()
    entry = comfy.run_prompt(prompt, timeout=600)
    return {"ids": ids, "prompt": prompt, "entry": entry, "outputs": entry["outputs"]}


def local_file(comfyui_server, record):
    assert record["type"] == "temp" and "/" not in record["filename"] and ".." not in record["subfolder"]
    return comfyui_server.base_dir / "temp" / record["subfolder"] / record["filename"]


# --- ui contract (no browser) ----------------------------------------------------------------------------------
def test_decode_sends_the_before_after_clips(run, comfy, comfyui_server):
    (entry,) = run["outputs"][run["ids"]["decode"]]["reco_compare"]
    assert {k: entry[k] for k in ("fps", "frames", "width", "height")} == {"fps": FPS, "frames": LENGTH, "width": W,
                                                                             "height": H}
    comparison = comfy.saved_tensors(run["entry"], run["ids"]["save"])["image"]  # [T, H, 2W, 3]: source | edit
    halves = {"source": comparison[..., :W, :], "edit": comparison[..., W:, :]}
    for key, other in (("source", "edit"), ("edit", "source")):
        status, body = comfy.request("GET", "/view?" + "&".join(f"{k}={v}" for k, v in entry[key].items()))
        assert status == 200 and body[:4] == b"\x1a\x45\xdf\xa3", f"{key}: not a WebM (EBML) file from /view"
        path = local_file(comfyui_server, entry[key])
        info = probe_video(path)
        assert (info.num_frames, info.width, info.height) == (LENGTH, W, H) and info.fps == pytest.approx(FPS)
        frames = read_video(path).frames  # lossy (VP9, 4:2:0): close to its half, far from the other one
        same, different = ((frames - halves[name]).abs().mean() for name in (key, other))
        assert same < 0.1 and same < different / 2, f"the {key} clip does not hold the {key} half"
    assert entry["source"]["filename"] != entry["edit"]["filename"]


def test_sampler_sends_the_preview_and_the_region_mask(run, comfy, comfyui_server):
    (entry,) = run["outputs"][run["ids"]["sampler"]]["reco_region"]
    assert {k: entry[k] for k in ("fps", "frames", "width", "height", "region")} == {
        "fps": FPS, "frames": LENGTH, "width": W, "height": H, "region": "auto"}
    region = comfy.saved_tensors(run["entry"], run["ids"]["save"])["mask"]  # [T, H, W]
    assert 0 < float(region.mean()) < 1, "the tiny model's auto region should be neither empty nor everything"
    assert entry["coverage"] == pytest.approx(float(region.mean()), abs=1e-3)
    for key in ("preview", "mask"):
        info = probe_video(local_file(comfyui_server, entry[key]))
        assert (info.num_frames, info.width, info.height) == (LENGTH, W, H)
    mask = read_mask_video(local_file(comfyui_server, entry["mask"])).frames
    assert ((mask > 0.5).float() - region).abs().mean() < 0.05, "the mask clip does not hold the region"
    preview = read_video(local_file(comfyui_server, entry["preview"])).frames
    assert preview.std() > 0.01, "the latent preview is blank"


# --- the browser ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def page(comfyui_server):
    with frontend_tab(comfyui_server.url, 1600, 1150) as tab:
        tab.evaluate("app.extensionManager.setting.set('Comfy.Minimap.Visible', false)")
        yield tab


LAYOUT_JS = """(async ({decode, sampler}) => {
    const byId = (id) => app.graph.getNodeById(+id);
    let parked = 0;
    for (const node of app.graph.nodes) {
        if (node !== byId(decode) && node !== byId(sampler)) node.pos = [-4000, 400 * parked++];
    }
    const d = byId(decode), s = byId(sampler);
    d.pos = [20, 60]; d.setSize([560, 520]);
    s.pos = [640, 60]; s.setSize([520, s.computeSize()[1] + 300]);
    app.canvas.ds.scale = 1; app.canvas.ds.offset = [20, 0];
    app.canvas.deselectAll();
    app.canvas.setDirty(true, true);
    await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
    await new Promise(r => setTimeout(r, 300));
    return true;
})"""


@pytest.fixture(scope="module")
def viewers(page, run):
    """The run's graph as a workflow, queued from the UI with another sampler seed (a cached prompt would send no
    results), laid out so both viewers are on screen."""
    page.evaluate(f"app.loadApiJson({json.dumps(run['prompt'])}, 'reco_viewer_test')")
    page.evaluate(f"""(() => {{
        for (const node of app.graph.nodes)
            for (const widget of node.widgets || [])
                if (widget.name === 'control_after_generate') widget.value = 'fixed';
        app.graph.getNodeById({run['ids']['sampler']}).widgets.find(w => w.name === 'seed').value = 5;
    }})()""")
    page.evaluate("app.queuePrompt(0, 1)")
    page.wait_for(f"document.querySelectorAll('{COMPARE} video, {REGION} video').length === 4", timeout=600)
    page.wait_for("Array.from(document.querySelectorAll('.reco-viewer video')).every(v => v.readyState >= 2)",
                  timeout=60)
    page.evaluate(f"({LAYOUT_JS})({json.dumps(run['ids'])})")
    return run["ids"]


def save_screenshot(page, box, name, tmp_path):
    deselect(page)
    page.screenshot(str(tmp_path / name), clip=box)


def test_viewers_load_both_videos(viewers, page):
    for viewer, classes in ((COMPARE, ["reco-source", "reco-edit"]), (REGION, ["reco-mask-video", "reco-preview"])):
        found = videos(page, viewer)
        assert [next(c for c in v["cls"].split() if c != "reco-video") for v in found] == classes
        for video in found:
            assert video["ready"] >= 1 and (video["width"], video["height"]) == (W, H), video
            assert "/view?" in video["src"] and "type=temp" in video["src"], video["src"]
            assert min(video["box"]) > 50, f"{viewer}: the video is not laid out: {video}"
    # the viewers are no values: not in the saved workflow, not in the prompt
    saved = page.evaluate(f"""(async () => {{ const ids = [{viewers['decode']}, {viewers['sampler']}];
        const nodes = app.graph.serialize().nodes.filter(n => ids.includes(n.id));
        const prompt = (await app.graphToPrompt()).output;
        return {{values: nodes.map(n => [n.type, (n.widgets_values || []).length,
                                         (LiteGraph.createNode(n.type).widgets || []).length]),
                 inputs: ids.map(id => Object.keys(prompt[id].inputs))}}; }})()""")
    assert all(saved_count == fresh_count for _, saved_count, fresh_count in saved["values"]), saved["values"]
    assert not [name for names in saved["inputs"] for name in names if name.startswith("reco")], saved["inputs"]


def test_wipe_moves_when_dragged(viewers, page, tmp_path):
    pause(page, COMPARE)
    x, y, w, h = frame = rect(page, f"{COMPARE} .reco-frame")
    assert wipe_position(page) == 0.5
    before = screenshot(page, frame)
    drag_wipe(page, frame, 0.5, 0.2)
    wipe = wipe_position(page)
    assert wipe == pytest.approx(0.2, abs=0.02)
    assert page.evaluate(f"document.querySelector('{COMPARE} .reco-wipe').style.left").startswith("20")
    time.sleep(0.2)
    after = screenshot(page, frame)
    assert mean_difference(before, after) > 1.0, "the picture did not change when the wipe moved"
    # a moved pointer after the release drags nothing
    mouse(page, "mouseMoved", x + w * 0.7, y + h / 2)
    assert wipe_position(page) == wipe
    mouse(page, "mousePressed", x + w * 0.6, y + h / 2, pressed=True)  # a click puts the wipe there
    mouse(page, "mouseReleased", x + w * 0.6, y + h / 2)
    assert wipe_position(page) == pytest.approx(0.6, abs=0.02)
    first_frame(page, COMPARE)
    save_screenshot(page, node_box(page, viewers["decode"]), "viewer.png", tmp_path)


def test_frame_stepping(viewers, page):
    pause(page, COMPARE)
    start, total = counter(page, COMPARE)
    assert total == LENGTH

    def expect(frame):
        page.wait_for(f"document.querySelector('{COMPARE} .reco-counter').textContent === '{frame} / {LENGTH}'",
                      timeout=10)
        time_ = settled(page, COMPARE)
        assert int(time_ * FPS) + 1 == frame, "the videos are not on the frame the counter shows"

    def wrap(frame):
        return (frame - 1) % LENGTH + 1

    click(page, f"{COMPARE} .reco-next")
    expect(wrap(start + 1))
    click(page, f"{COMPARE} .reco-previous")
    click(page, f"{COMPARE} .reco-previous")
    expect(wrap(start - 1))
    x, y, w, h = rect(page, f"{COMPARE} .reco-frame")
    mouse(page, "mouseMoved", x + w / 2, y + h / 2)  # the arrow keys step while the pointer is over the viewer
    press_key(page, "ArrowRight", 39)
    press_key(page, "ArrowRight", 39)
    expect(wrap(start + 1))
    press_key(page, "ArrowLeft", 37)
    expect(wrap(start))
    mouse(page, "mouseMoved", 5, 400)  # away: the keys are the canvas's again
    press_key(page, "ArrowRight", 39)
    time.sleep(0.3)
    assert counter(page, COMPARE)[0] == wrap(start)


def test_playback_keeps_the_edit_on_the_source(viewers, page):
    pause(page, COMPARE)
    click(page, f"{COMPARE} .reco-play")
    page.wait_for(f"Array.from(document.querySelectorAll('{COMPARE} video')).every(v => !v.paused)", timeout=10)
    assert page.evaluate(f"document.querySelector('{COMPARE} .reco-play').title") == "Pause"
    time.sleep(1.0)
    click(page, f"{COMPARE} .reco-play")
    settled(page, COMPARE)  # the edit is put back on the source's time when playback stops
    assert page.evaluate(f"document.querySelector('{COMPARE} .reco-play').title") == "Play"


def test_region_overlay_toggles(viewers, page, tmp_path):
    pause(page, REGION)
    toggle = f"{REGION} .reco-region-toggle"
    assert page.evaluate(f"document.querySelector('{toggle}').getAttribute('aria-pressed')") == "true"
    frame = rect(page, f"{REGION} .reco-frame")
    page.wait_for(f"document.querySelector('{REGION} .reco-overlay').width === {W}", timeout=10)
    first_frame(page, REGION)
    with_tint = screenshot(page, frame)
    save_screenshot(page, node_box(page, viewers["sampler"]), "viewer_overlay.png", tmp_path)
    click(page, toggle)
    assert page.evaluate(f"document.querySelector('{toggle}').getAttribute('aria-pressed')") == "false"
    time.sleep(0.2)
    without = screenshot(page, frame)
    assert mean_difference(with_tint, without) > 1.0, "hiding the region tint changed nothing"
    click(page, toggle)
    time.sleep(0.2)
    assert mean_difference(with_tint, screenshot(page, frame)) < 0.5, "the tint did not come back"


def test_restored_outputs_show_again(viewers, page, run):
    """Outputs the front end restores (a workflow tab switched back, a queue entry loaded) go through
    app.nodeOutputs and the onNodeOutputsUpdated hook: the viewers come back without a run."""
    page.evaluate(f"app.loadApiJson({json.dumps(run['prompt'])}, 'reco_viewer_restore')")
    page.wait_for("document.querySelectorAll('.reco-viewer').length === 0", timeout=10)
    page.evaluate(f"app.nodeOutputs = {json.dumps(run['outputs'])}")
    page.wait_for("Array.from(document.querySelectorAll('.reco-viewer video')).length === 4 && "
                  "Array.from(document.querySelectorAll('.reco-viewer video')).every(v => v.readyState >= 1)",
                  timeout=30)
    decode_file = run["outputs"][viewers["decode"]]["reco_compare"][0]["source"]["filename"]
    assert decode_file in page.evaluate(f"document.querySelector('{COMPARE} .reco-source').currentSrc")


NOTE = "source has 3 frames, fewer than the 81 sampled: padded with 78 copies of its last frame"
NOTES_JS = """(async (notes) => {
    const node = window.__recoNoted;
    const before = node.size[1];
    node.onExecuted({reco_notes: notes});
    await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
    const box = document.querySelector('.reco-notes');
    return {lines: box ? Array.from(box.querySelectorAll('p')).map(p => p.textContent) : null,
            shown: !!box && getComputedStyle(box).display !== 'none', before, after: node.size[1],
            values: (app.graph.serialize().nodes.find(n => n.id === node.id).widgets_values || []).length,
            fresh: (LiteGraph.createNode(node.type).widgets || []).length};
})"""


def test_notes_show_under_the_node_and_clear(page):
    """ReCo In-Context Edit and ReCo Decode say what they did to fit the clip (`reco_notes`); the next run's empty
    list clears the note. The note is no value: not in widgets_values."""
    page.evaluate("""(() => { app.graph.clear(); const node = LiteGraph.createNode('ReCoInContext');
        node.pos = [200, 150]; app.graph.add(node); window.__recoNoted = node; return true; })()""")
    shown = page.evaluate(f"({NOTES_JS})({json.dumps([NOTE])})")
    assert shown["lines"] == [NOTE] and shown["shown"], shown
    assert shown["after"] > shown["before"], "the node grows to show the note"
    assert shown["values"] == shown["fresh"], "the note must not be saved with the workflow"
    cleared = page.evaluate(f"({NOTES_JS})([])")
    assert cleared["lines"] == [] and not cleared["shown"], cleared
    page.evaluate("app.graph.clear()")


# --- help pages and translations ---------------------------------------------------------------------------------
def pack_node_ids(comfy, comfyui_server):
    return sorted(node_id for node_id, info in comfy.object_info().items()
                  if info.get("python_module") == comfyui_server.pack_module)


def first_sentence(markdown):
    """The first body paragraph's first sentence as rendered text (headings, images and tables skipped)."""
    for block in re.split(r"\n\s*\n", markdown):
        block = block.strip()
        if block and not block.startswith(("#", "!", "|", "-", "```")):
            text = re.sub(r"[*`]", "", " ".join(block.split()))
            return re.split(r"(?<=[.:。：])\s*", text)[0][:60]
    raise AssertionError("no paragraph")


def last_tip(markdown):
    """The page's last line (a tip) as rendered text: in the fetched page only, never in the node's description
    (which the panel shows while it loads or when the page is missing)."""
    line = markdown.strip().splitlines()[-1].strip()
    return re.sub(r"[*`]", "", line.removeprefix("- "))[:50]


OPEN_HELP_JS = """(async (nodeId) => {
    app.graph.clear();
    const node = LiteGraph.createNode(nodeId);
    node.pos = [650, 150];
    app.graph.add(node);
    app.canvas.ds.scale = 1; app.canvas.ds.offset = [0, 0];
    app.canvas.deselectAll(); app.canvas.selectNode(node); app.canvas.setDirty(true, true);
    for (let i = 0; i < 100; i++) {   // the selection toolbox (with its info button) follows the selection
        const button = document.querySelector('[data-testid="info-button"]');
        if (button) { button.click(); return true; }
        await new Promise(r => setTimeout(r, 100));
    }
    return false;
})"""


def test_help_pages_in_the_help_panel(page, comfy, comfyui_server):
    node_ids = pack_node_ids(comfy, comfyui_server)
    assert {"ReCoLoRALoader", "ReCoInContext", "ReCoSampler", "ReCoDecode"} <= set(node_ids)
    missing = [n for n in node_ids if not (DOCS / f"{n}.md").is_file() or not (DOCS / n / "zh.md").is_file()]
    assert not missing, f"no web/docs/<NodeId>.md or web/docs/<NodeId>/zh.md for {missing}"
    try:
        for locale, page_of in (("en", lambda n: DOCS / f"{n}.md"), ("zh", lambda n: DOCS / n / "zh.md")):
            page.evaluate(f"app.extensionManager.setting.set('Comfy.Locale', '{locale}')")
            for node_id in node_ids:  # the info button closes the page when it is that node's: never twice in a row
                markdown = page_of(node_id).read_text(encoding="utf-8")
                assert page.evaluate(f"({OPEN_HELP_JS})({json.dumps(node_id)})"), "no info button for the node"
                page.wait_for(f"""(() => {{ const e = document.querySelector('.node-help-content');
                    const text = !!e && e.innerText.replace(/\\s+/g, ' ');
                    return !!text && text.includes({json.dumps(first_sentence(markdown))})
                        && text.includes({json.dumps(last_tip(markdown))});
                }})()""", timeout=15)
                images = len(MARKDOWN_IMAGE.findall(markdown))
                page.wait_for(f"""(() => {{
                    const images = Array.from(document.querySelectorAll('.node-help-content img'));
                    return images.length === {images} && images.every(i => i.complete && i.naturalWidth > 0); }})()""",
                              timeout=15)
    finally:
        page.evaluate("app.extensionManager.setting.set('Comfy.Locale', 'en')")


def test_help_page_images_exist():
    for path in DOCS.rglob("*.md"):
        for target in MARKDOWN_IMAGE.findall(path.read_text(encoding="utf-8")):
            # the front end resolves relative images against /extensions/<pack>/docs/ for every page
            assert (DOCS / target).is_file(), f"{path.relative_to(REPO_ROOT)}: no web/docs/{target}"


def load_locale(lang):
    folder = REPO_ROOT / "locales" / lang
    messages = json.loads((folder / "main.json").read_text(encoding="utf-8"))
    messages["nodeDefs"] = json.loads((folder / "nodeDefs.json").read_text(encoding="utf-8"))
    return messages


def test_translations_are_served_and_complete(comfy, comfyui_server):
    served = comfy.get_json("/i18n")
    node_ids = pack_node_ids(comfy, comfyui_server)
    viewer_keys = set(re.findall(r"^  (\w+): \"", WEB_JS.read_text(encoding="utf-8").split("const STRINGS = {")[1]
                                 .split("};")[0], flags=re.M))
    for lang in ("en", "zh"):
        messages = load_locale(lang)
        for key in ("nodeDefs", "nodeCategories", "reco"):
            assert served[lang][key] | messages[key] == served[lang][key], f"{lang}.{key} is not served by /i18n"
        assert set(messages["reco"]["viewer"]) == viewer_keys, f"{lang}: reco.viewer keys differ from the JS's"
        for node_id in node_ids:
            info, defs = comfy.object_info(node_id), messages["nodeDefs"].get(node_id)
            assert defs and defs["display_name"] and defs["description"], f"{lang}: {node_id} is not translated"
            for section in ("required", "optional"):
                for name, spec in info["input"].get(section, {}).items():
                    options = spec[1] if len(spec) > 1 else {}
                    entry = defs["inputs"].get(name, {})
                    assert entry.get("name"), f"{lang}: {node_id}.inputs.{name} has no name"
                    assert bool(entry.get("tooltip")) == bool(options.get("tooltip")), f"{lang}: {node_id}.{name}"
                    if lang == "en":  # the English entries win over the schema in the UI: they must equal it
                        assert entry == {"name": name, **({"tooltip": options["tooltip"]}
                                                          if options.get("tooltip") else {})}, f"{node_id}.{name}"
            assert sorted(defs["outputs"], key=int) == [str(i) for i in range(len(info["output"]))], node_id
            if lang == "en":
                assert (defs["display_name"], defs["description"]) == (info["display_name"], info["description"])
                tips = info.get("output_tooltips") or [None] * len(info["output"])
                assert [defs["outputs"][str(i)].get("tooltip") for i in range(len(info["output"]))] == tips
                assert [defs["outputs"][str(i)]["name"] for i in range(len(info["output"]))] == info["output_name"]
    zh = load_locale("zh")["nodeDefs"]
    assert all(re.search(r"[\u4e00-\u9fff]", zh[n]["display_name"]) for n in node_ids), "zh display names"


# --- no harm elsewhere ------------------------------------------------------------------------------------------
def test_core_graph_loads_cleanly_and_viewers_are_torn_down(viewers, page, run):
    page.evaluate(f"app.loadApiJson({json.dumps(run['prompt'])}, 'reco_viewer_teardown')")
    page.evaluate(f"app.nodeOutputs = {json.dumps(run['outputs'])}")
    page.wait_for("document.querySelectorAll('.reco-viewer video').length === 4", timeout=30)
    page.evaluate("window.__recoVideos = Array.from(document.querySelectorAll('.reco-viewer video'))")
    before = len(page.messages)
    page.evaluate("app.loadGraphData()")  # the default, core-only graph
    page.wait_for("app.graph.nodes.length > 0 && app.graph.nodes.every(n => !n.type.startsWith('ReCo'))", timeout=20)
    time.sleep(1.0)
    state = page.evaluate("""({viewers: document.querySelectorAll('.reco-viewer').length,
        videos: window.__recoVideos.map(v => ({connected: v.isConnected, src: v.getAttribute('src'),
                                               paused: v.paused})),
        widgets: app.graph.nodes.flatMap(n => (n.widgets || []).map(w => w.name)).filter(n => n.startsWith('reco'))
    })""")
    assert state["viewers"] == 0 and not state["widgets"], state
    assert all(not v["connected"] and v["src"] is None and v["paused"] for v in state["videos"]), state["videos"]
    prompt = page.evaluate("app.graphToPrompt().then(p => p.output)")
    assert prompt and not any(name.startswith("reco") for node in prompt.values() for name in node["inputs"])
    errors = [m for m in page.messages[before:] if m["level"] == "error" and m["kind"] in ("exception", "console")]
    assert not errors, errors


HELP_PROBE = re.compile(r"/docs/ReCo\w+/[a-z]{2}(-[A-Z]{2})?\.md$")  # the front end asks <NodeId>/<locale>.md first


def test_no_console_errors_from_the_pack(page, comfyui_server):
    """Runs last: everything this file's browser logged. The only pack URLs allowed to fail are the help pages the
    front end probes per locale before it falls back to web/docs/<NodeId>.md (there is no <NodeId>/en.md)."""
    time.sleep(0.5)
    pattern = re.compile(rf"ReCo|reco[-_]|{re.escape(comfyui_server.pack_link.name)}")
    bad = [m for m in page.problems(levels=("error", "warning"))
           if (pattern.search(m["text"]) or pattern.search(m["url"])) and not HELP_PROBE.search(m["url"])]
    assert not bad, "\n".join(f"{m['kind']} {m['level']}: {m['text'][:500]} ({m['url']})" for m in bad)
