"""The example workflows in workflows/ against the real server and the real front end.

- the files are what scripts/make_workflows.py generates, from node definitions that match the server's;
- the server lists each one as a template of this pack and serves it with its .jpg thumbnail;
- converted to an API prompt, each one fits the server's node definitions, and the server's own validation
  finds nothing wrong but the model and video files this test install does not have;
- in headless Chromium (the front end the server ships): the template browser shows the card with its
  thumbnail and opens it; app.loadGraphData resolves every node type, keeps every widget value, link and node
  size, the front end's graphToPrompt gives the same prompt, nodes and groups do not overlap, the note fits;
- the browser console shows no errors or warnings from the pack.

Needs a ComfyUI (see conftest.py). The browser tests also need Chromium: `chromium`, `chromium-browser` or
`google-chrome` on PATH, or env CHROME_PATH; without one they are skipped. RECO_SCREENSHOT_DIR=dir keeps a
screenshot of every loaded workflow.
"""
import importlib.util
import json
import os
import re
import sys
import time
from pathlib import Path

import pytest

from comfyui_client import PromptValidationError
from viewer_page import (COMPARE, REGION, deselect, drag_wipe, frontend_tab, mean_difference, node_box, pause,
                         rect, screenshot, videos)

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKFLOW_PATHS = sorted((REPO_ROOT / "workflows").glob("*.json"))
NO_WORKFLOWS = pytest.mark.skipif(not WORKFLOW_PATHS, reason="the pack has no workflows/*.json yet")
WORKFLOW_PARAMS = [pytest.param(path, id=path.stem) for path in WORKFLOW_PATHS]
MODEL_DIRECTORIES = {"checkpoints", "clip", "clip_vision", "controlnet", "diffusion_models", "loras",
                     "text_encoders", "unet", "upscale_models", "vae"}


def load_generator():
    """scripts/make_workflows.py as a module (standard library only, never imports ComfyUI)."""
    spec = importlib.util.spec_from_file_location("make_workflows", REPO_ROOT / "scripts" / "make_workflows.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module      # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


gen = load_generator()


def read_workflow(path):
    return json.loads(path.read_text(encoding="utf-8"))


def executable_nodes(workflow):
    return [node for node in workflow["nodes"] if node["type"] not in gen.FRONTEND_NODES]


@pytest.fixture(scope="module")
def live_info(comfy):
    """node type -> the server's /object_info entry (None for an unknown type), fetched once per type."""
    cache = {}

    def get(node_type):
        if node_type not in cache:
            cache[node_type] = comfy.object_info(node_type)
        return cache[node_type]

    return get


# --- files --------------------------------------------------------------------------------------------------
@NO_WORKFLOWS
def test_workflows_are_generated_from_the_saved_definitions():
    expected = gen.build_all()
    on_disk = {path.name: path.read_text(encoding="utf-8") for path in WORKFLOW_PATHS}
    assert set(on_disk) == set(expected), "workflows/*.json and scripts/make_workflows.py disagree on the files"
    stale = [name for name in expected if expected[name] != on_disk[name]]
    assert not stale, f"{stale} differ from the generator's output: run python scripts/make_workflows.py"


@NO_WORKFLOWS
def test_saved_definitions_match_the_server(live_info):
    saved = gen.load_object_info()
    changed = [node_type for node_type in saved if not node_type.startswith("_")
               and gen.trim_node_info(node_type, live_info(node_type) or {}) != saved[node_type]]
    assert not changed, (f"the server's definitions of {changed} differ from {gen.OBJECT_INFO_PATH.name}: start "
                         f"ComfyUI with this pack and run python scripts/make_workflows.py --server URL")


@pytest.mark.parametrize("path", WORKFLOW_PARAMS)
def test_model_entries_and_properties(path):
    workflow = read_workflow(path)
    assert workflow["version"] == 0.4
    for node in executable_nodes(workflow):
        properties = node["properties"]
        where = f"node {node['id']} ({node['type']})"
        assert properties["Node name for S&R"] == node["type"], where
        for model in properties.get("models", []):
            # The front end offers a download only for entries whose name is one of the node's widget values.
            assert model["name"] in node["widgets_values"], f"{where}: {model['name']} is not a widget value"
            assert "/" not in model["name"] and "\\" not in model["name"], f"{where}: use bare file names"
            assert model["url"].startswith("https://huggingface.co/") and model["url"].endswith(model["name"]), where
            assert model["directory"] in MODEL_DIRECTORIES, where
    pack_nodes = [node for node in executable_nodes(workflow) if node["type"].startswith("ReCo")]
    assert pack_nodes and all(node["properties"].get("cnr_id") == gen.PACK_CNR_ID for node in pack_nodes)


# --- server ---------------------------------------------------------------------------------------------------
def jpeg_size(data):
    """(width, height) from a JPEG's first SOF marker."""
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker, length = data[i + 1], int.from_bytes(data[i + 2:i + 4], "big")
        if marker in (0xC0, 0xC1, 0xC2):
            return int.from_bytes(data[i + 7:i + 9], "big"), int.from_bytes(data[i + 5:i + 7], "big")
        i += 2 + length
    raise AssertionError("no SOF marker in the JPEG")


@NO_WORKFLOWS
def test_templates_are_listed_with_thumbnails(comfy, comfyui_server):
    pack = comfyui_server.pack_link.name
    assert not comfyui_server.pack_import_failed(), "the pack failed to import; see the server log"
    listed = comfy.get_json("/workflow_templates").get(pack, [])
    for path in WORKFLOW_PATHS:
        assert path.stem in listed, f"{path.name} is not listed by /workflow_templates under {pack}"
        status, body = comfy.request("GET", f"/api/workflow_templates/{pack}/{path.name}")
        assert status == 200 and body == read_workflow(path)
        status, thumbnail = comfy.request("GET", f"/api/workflow_templates/{pack}/{path.stem}.jpg")
        assert status == 200, f"no thumbnail workflows/{path.stem}.jpg"
        width, height = jpeg_size(thumbnail)
        assert 1.2 <= width / height <= 1.45, f"{path.stem}.jpg is {width}x{height}, not about 4:3"
        assert width <= 1024 and len(thumbnail) < 200_000, f"{path.stem}.jpg is large ({len(thumbnail)} bytes)"


@pytest.mark.parametrize("path", WORKFLOW_PARAMS)
def test_api_prompt_fits_the_server_definitions(path, live_info):
    workflow = read_workflow(path)
    infos = {node["type"]: live_info(node["type"]) for node in executable_nodes(workflow)}
    unknown = sorted(node_type for node_type, info in infos.items() if info is None)
    assert not unknown, f"node types the server does not have: {unknown}"
    prompt = gen.to_api_prompt(workflow, infos)
    problems = []
    for node_id, node in prompt.items():
        info = infos[node["class_type"]]
        where = f"node {node_id} ({node['class_type']})"
        specs = {name: (spec, optional) for name, spec, optional in gen.input_specs(info)}
        for name, (spec, optional) in specs.items():
            value = node["inputs"].get(name)
            if value is None:
                if not optional:
                    problems.append(f"{where}: required input {name} is missing")
            elif isinstance(value, list):
                origin = prompt.get(value[0])
                if origin is None:
                    problems.append(f"{where}.{name}: linked to missing node {value[0]}")
                    continue
                out_type = infos[origin["class_type"]]["output"][value[1]]
                if out_type != gen.input_type(spec) and "*" not in (out_type, gen.input_type(spec)):
                    problems.append(f"{where}.{name}: {gen.input_type(spec)} linked to {out_type}")
            elif name not in gen.FILE_INPUTS.get(node["class_type"], ()):
                try:
                    gen.check_widget_value(gen.Node(node["class_type"], (0, 0), {}), name, spec, value)
                except ValueError as err:
                    problems.append(str(err))
        problems += [f"{where}: unknown input {name}" for name in node["inputs"] if name not in specs]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", WORKFLOW_PARAMS)
def test_server_validation_finds_only_missing_files(path, comfy, live_info):
    """POST /prompt checks the prompt for real. The test install has none of the workflow's model or video files,
    so validation must fail, and only on those file inputs; a workflow that needs no files (the bundled
    miniature) must pass. Nothing is left to run."""
    workflow = read_workflow(path)
    prompt = gen.to_api_prompt(workflow, {n["type"]: live_info(n["type"]) for n in executable_nodes(workflow)})
    needs_files = any(node["class_type"] in gen.FILE_INPUTS for node in prompt.values())
    try:
        prompt_id = comfy.submit(prompt)
    except PromptValidationError as err:
        node_errors = err.node_errors
    else:
        comfy.interrupt(prompt_id)
        comfy.wait(prompt_id, timeout=300, check=False)
        assert not needs_files, "the server accepted the prompt: it expected model files this test install lacks"
        return
    assert needs_files, f"the server refused a workflow that needs no files: {node_errors}"
    unexpected = [f"node {node_id} ({info['class_type']}): {error['type']}: {error.get('details')}"
                  for node_id, info in node_errors.items() for error in info["errors"]
                  if error.get("extra_info", {}).get("input_name") not in gen.FILE_INPUTS.get(info["class_type"], ())
                  or error["type"] not in ("value_not_in_list", "custom_validation_failed")]
    assert node_errors and not unexpected, "\n".join(unexpected)


# --- front end ------------------------------------------------------------------------------------------------
RECORD_JS = """(() => {
    window.__recoMissing = null;
    app.registerExtension({name: "reco.tests.workflows", afterConfigureGraph(missing) {
        window.__recoMissing = (missing || []).map(m => typeof m === "string" ? m : m.type);
    }});
    return true;
})()"""

LOAD_JS = """(async (workflow) => {
    window.__recoMissing = null;
    await app.loadGraphData(workflow, true, true, null,
                            {showMissingNodesDialog: false, showMissingModelsDialog: false});
    await new Promise(resolve => requestAnimationFrame(() => requestAnimationFrame(resolve)));
    const nodes = app.graph.nodes.map(n => ({
        id: n.id, type: n.type, registered: !!LiteGraph.registered_node_types[n.type], has_errors: !!n.has_errors,
        widgets: (n.widgets || []).map(w => [w.name, w.value === undefined ? "__undefined__" : w.value]),
        size: [n.size[0], n.size[1]], min_size: Array.from(n.computeSize()),
    }));
    const notes = app.graph.nodes.filter(n => n.type === "MarkdownNote").map(n => {
        const element = n.widgets[0].element, content = element.querySelector(".ProseMirror") || element;
        const last = content.lastElementChild;
        return {id: n.id, content_height: last ? last.offsetTop + last.offsetHeight : 0, height: element.clientHeight};
    });
    const alerts = Array.from(document.querySelectorAll(".p-toast-message")).map(e => e.innerText);
    return {missing: window.__recoMissing, nodes, notes, alerts, serialized: app.graph.serialize(),
            prompt: (await app.graphToPrompt()).output};
})"""


@pytest.fixture(scope="module")
def page(comfyui_server):
    """A headless Chromium tab on the session server's front end (module scope: one browser for this file)."""
    with frontend_tab(comfyui_server.url, 1600, 1000) as tab:
        tab.evaluate(RECORD_JS)
        yield tab


def load_in_frontend(page, workflow):
    return page.evaluate(f"({LOAD_JS})({json.dumps(workflow)})")


def same_value(a, b):
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return abs(a - b) <= 1e-9 * max(1.0, abs(a))
    return a == b


def boxes_overlap(a, b):
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


@pytest.mark.parametrize("path", WORKFLOW_PARAMS)
def test_template_browser_opens_the_workflow(path, page, comfyui_server):
    """Workflow > Browse Templates > <pack>: the card shows the thumbnail, and a click loads the workflow (the
    Missing Models dialog then lists exactly the files of properties.models)."""
    workflow = read_workflow(path)
    pack = comfyui_server.pack_link.name
    page.evaluate("app.extensionManager.command.execute('Comfy.BrowseTemplates')")
    page.wait_for(f"""(() => {{
        const item = Array.from(document.querySelectorAll('[role=option]'))
            .find(e => e.textContent.trim() === {json.dumps(pack)});
        if (item) item.click();
        return !!item;
    }})()""", timeout=20)
    card = f"document.querySelector('[data-testid=\"template-workflow-{path.stem}\"]')"
    thumbnail = page.wait_for(f"""(() => {{
        const img = {card} && {card}.querySelector('img');
        return img && img.complete && img.naturalWidth > 0 && [img.naturalWidth, img.naturalHeight];
    }})()""", timeout=20)
    assert thumbnail[0] / thumbnail[1] == pytest.approx(4 / 3, rel=0.1)
    page.evaluate(f"{card}.click()")
    types = json.dumps(",".join(sorted(node["type"] for node in workflow["nodes"])))
    page.wait_for(f"app.graph.nodes.map(n => n.type).sort().join() === {types} && "
                  "!document.querySelector('[data-testid=\"template-workflows-content\"]')", timeout=20)
    expected = sorted(f"{m['directory']} / {m['name']}" for node in workflow["nodes"]
                      for m in node.get("properties", {}).get("models", []))
    if expected:
        listed = page.wait_for("""(() => { const list = document.querySelector('.comfy-missing-models');
            return list && list.innerText; })()""", timeout=20)
        missing = sorted(line for line in listed.splitlines() if " / " in line)
        assert missing == expected
        # Frontend 1.27.10 offers downloads only for .safetensors/.sft names; others show this error instead.
        errors = listed.count("Only allowed suffixes")
        assert errors == sum(not name.endswith((".safetensors", ".sft")) for name in expected)
    close_dialogs(page)


def close_dialogs(page):
    page.wait_for("""(() => {
        const button = document.querySelector(
            '[role=dialog] .p-dialog-close-button, [role=dialog] button[aria-label=Close]');
        if (button) button.click();
        return !document.querySelector('[role=dialog]');
    })()""", timeout=10)


@pytest.mark.parametrize("path", WORKFLOW_PARAMS)
def test_workflow_loads_in_the_frontend(path, page, live_info):
    workflow = read_workflow(path)
    loaded = load_in_frontend(page, workflow)
    if os.environ.get("RECO_SCREENSHOT_DIR"):
        Path(os.environ["RECO_SCREENSHOT_DIR"]).mkdir(parents=True, exist_ok=True)
        page.screenshot(Path(os.environ["RECO_SCREENSHOT_DIR"]) / f"{path.stem}.png")

    assert loaded["missing"] == [], f"missing node types: {loaded['missing']}"
    assert not [a for a in loaded["alerts"] if "workflow" in a.lower()], loaded["alerts"]
    by_id = {node["id"]: node for node in loaded["nodes"]}
    serialized = {node["id"]: node for node in loaded["serialized"]["nodes"]}
    assert sorted(by_id) == sorted(node["id"] for node in workflow["nodes"])
    problems = []
    for node in workflow["nodes"]:
        got, saved = by_id[node["id"]], serialized[node["id"]]
        where = f"node {node['id']} ({node['type']})"
        if not got["registered"] or got["has_errors"]:
            problems.append(f"{where}: type not resolved")
            continue
        values = node["widgets_values"]
        if len(got["widgets"]) != len(values):
            problems.append(f"{where}: {len(got['widgets'])} widgets, {len(values)} widgets_values")
        for (name, value), expected in zip(got["widgets"], values):
            if value in ("__undefined__", None, "undefined") or not same_value(value, expected):
                problems.append(f"{where}: widget {name} = {value!r}, expected {expected!r}")
        if not all(same_value(a, b) for a, b in zip(saved.get("widgets_values", []), values)):
            problems.append(f"{where}: saves widgets_values {saved.get('widgets_values')}, file has {values}")
        slots = [(i["name"], i["link"]) for i in node["inputs"]]
        if [(i["name"], i.get("link")) for i in saved.get("inputs", [])] != slots:
            problems.append(f"{where}: input slots or links changed on load")
        if any(got["min_size"][k] > node["size"][k] + 0.5 for k in (0, 1)):
            problems.append(f"{where}: size {node['size']} is below the front end's minimum {got['min_size']}")
    assert sorted(map(tuple, loaded["serialized"]["links"])) == sorted(map(tuple, workflow["links"]))
    assert not problems, "\n".join(problems)

    # The front end's own conversion gives the same API prompt as the generator's.
    expected = gen.to_api_prompt(workflow, {n["type"]: live_info(n["type"]) for n in executable_nodes(workflow)})
    got = {node_id: {"class_type": node["class_type"], "inputs": node["inputs"]}
           for node_id, node in loaded["prompt"].items()}
    assert got == expected

    for note in loaded["notes"]:
        assert note["content_height"] <= note["height"] + 1, f"note {note['id']}: its text overflows the node"


@pytest.mark.parametrize("path", WORKFLOW_PARAMS)
def test_layout_reads_cleanly(path):
    """Nodes (title bars included) do not overlap, groups do not overlap, and every node except notes sits in
    exactly one group. (The previous test checks that the front end keeps these sizes.)"""
    workflow = read_workflow(path)
    title = gen.TITLE_HEIGHT
    boxes = {n["id"]: [n["pos"][0], n["pos"][1] - title, n["size"][0], n["size"][1] + title] for n in workflow["nodes"]}
    ids = sorted(boxes)
    overlaps = [(a, b) for i, a in enumerate(ids) for b in ids[i + 1:] if boxes_overlap(boxes[a], boxes[b])]
    assert not overlaps, f"overlapping nodes: {overlaps}"
    groups = workflow.get("groups", [])
    assert not [(g["title"], h["title"]) for i, g in enumerate(groups) for h in groups[i + 1:]
                if boxes_overlap(g["bounding"], h["bounding"])]
    for node in executable_nodes(workflow):
        x, y, w, h = boxes[node["id"]]
        inside = [g["title"] for g in groups if g["bounding"][0] <= x and x + w <= g["bounding"][0] + g["bounding"][2]
                  and g["bounding"][1] <= y and y + h <= g["bounding"][1] + g["bounding"][3]]
        assert len(inside) == 1, f"node {node['id']} ({node['type']}) is in groups {inside}"


PACK_MESSAGE = "ReCo|reco[-_]video|{pack}"


def test_no_console_errors_from_the_pack(page, comfyui_server):
    """Runs last: everything the browser logged while this file loaded the front end and the workflows.
    Failed requests for the model URLs are not counted: the Missing Models dialog asks each URL for the file's
    size, and a test machine may be offline."""
    time.sleep(0.5)
    pattern = re.compile(PACK_MESSAGE.format(pack=re.escape(comfyui_server.pack_link.name)))
    model_urls = {m["url"] for path in WORKFLOW_PATHS for node in read_workflow(path)["nodes"]
                  for m in node.get("properties", {}).get("models", [])}
    bad = [m for m in page.problems(levels=("error", "warning"))
           if (pattern.search(m["text"]) or pattern.search(m["url"])) and m["url"] not in model_urls]
    assert not bad, "\n".join(f"{m['kind']} {m['level']}: {m['text'][:500]} ({m['url']})" for m in bad)


# --- the shapes workflow, run ---------------------------------------------------------------------------------
SHAPES_WORKFLOW = REPO_ROOT / "workflows" / "reco_shapes_edit.json"


def shapes_weights_missing():
    from reco_core.shapes.model import shipped_files

    return bool(shipped_files().missing())


@pytest.mark.skipif(shapes_weights_missing(), reason="the shipped ReCo-Shapes weights are not built yet")
def test_shapes_workflow_runs_and_its_viewers_work(page, tmp_path):
    """The no-download workflow, queued from the front end as a user would: it runs, ReCo Decode's viewer
    shows source and edit (the model's size), ReCo Sampler's shows the region, and the wipe moves when dragged."""
    page.evaluate(f"app.loadGraphData({SHAPES_WORKFLOW.read_text(encoding='utf-8')}, true, true, 'reco_shapes_edit')")
    # a seed of its own: the same prompt run before (the validation test) would be cached and send no previews
    page.evaluate(f"""app.graph.nodes.find(n => n.type === 'ReCoSampler').widgets
        .find(w => w.name === 'seed').value = {int(time.time()) % 100000 + 1}""")
    page.evaluate("app.queuePrompt(0, 1)")
    page.wait_for(f"document.querySelectorAll('{COMPARE} video, {REGION} video').length === 4", timeout=600)
    page.wait_for("Array.from(document.querySelectorAll('.reco-viewer video')).every(v => v.readyState >= 2)",
                  timeout=60)
    from reco_core.shapes.model import HEIGHT, WIDTH

    for video in videos(page, COMPARE) + videos(page, REGION):
        assert (video["width"], video["height"]) == (WIDTH, HEIGHT), video
    decode = page.evaluate("app.graph.nodes.find(n => n.type === 'ReCoDecode').id")
    page.evaluate(f"""(() => {{ const node = app.graph.getNodeById({decode});
        app.canvas.ds.scale = 1; app.canvas.ds.offset = [80 - node.pos[0], 80 - node.pos[1]];
        app.canvas.setDirty(true, true); }})()""")
    time.sleep(0.5)
    pause(page, COMPARE)
    frame = rect(page, f"{COMPARE} .reco-frame")
    before = screenshot(page, frame)
    drag_wipe(page, frame, 0.5, 0.14)
    time.sleep(0.3)
    after = screenshot(page, frame)
    assert mean_difference(before, after) > 1.0, "the picture did not change when the wipe moved"
    if os.environ.get("RECO_DOCS_SCREENSHOTS"):  # the README's and the help pages' pictures of the viewers
        write_viewer_screenshots(page, decode)


def write_viewer_screenshots(page, decode):
    """docs/images/viewer.png (ReCo Decode's before/after of this run, wipe in the middle) and viewer_overlay.png
    (ReCo Sampler's region viewer, the graph queued again with region auto so there is a region to show), with
    the two nodes alone on the canvas; copied to the help pages' web/docs/images/."""
    folders = [REPO_ROOT / "docs" / "images", REPO_ROOT / "web" / "docs" / "images"]
    sampler = page.evaluate("app.graph.nodes.find(n => n.type === 'ReCoSampler').id")
    page.evaluate(f"""(() => {{ const decode = app.graph.getNodeById({decode}), sampler = app.graph.getNodeById({sampler});
        let parked = 0;
        for (const node of app.graph.nodes)
            if (node !== decode && node !== sampler) node.pos = [-6000, 600 * parked++];
        decode.pos = [20, 60]; decode.setSize([440, 560]);
        sampler.pos = [520, 60]; sampler.setSize([440, sampler.computeSize()[1] + 300]);
        app.canvas.ds.scale = 1; app.canvas.ds.offset = [20, 0];
        app.canvas.deselectAll(); app.canvas.setDirty(true, true); }})()""")
    time.sleep(1.0)
    pause(page, COMPARE)
    frame = rect(page, f"{COMPARE} .reco-frame")
    drag_wipe(page, frame, 0.14, 0.5)
    time.sleep(0.5)
    deselect(page)
    for folder in folders:
        page.screenshot(str(folder / "viewer.png"), clip=node_box(page, decode))
    before = page.evaluate(f"Array.from(document.querySelectorAll('{REGION} video')).map(v => v.src).join()")
    page.evaluate(f"""(() => {{ const node = app.graph.getNodeById({sampler});
        node.widgets.find(w => w.name === 'region').value = 'auto';
        node.widgets.find(w => w.name === 'seed').value = 1; }})()""")
    page.evaluate("app.queuePrompt(0, 1)")
    page.wait_for(f"Array.from(document.querySelectorAll('{REGION} video')).map(v => v.src).join() !== "
                  f"{json.dumps(before)}", timeout=600)
    page.wait_for(f"Array.from(document.querySelectorAll('{REGION} video')).every(v => v.readyState >= 2)",
                  timeout=60)
    time.sleep(2.0)
    deselect(page)
    for folder in folders:
        page.screenshot(str(folder / "viewer_overlay.png"), clip=node_box(page, sampler))
