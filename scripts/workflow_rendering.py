"""Compact workflow descriptions -> ComfyUI UI JSON (LiteGraph "version": 0.4), API prompts and pictures.

The node definitions saved in workflows/node_definitions/object_info.json give every node's input slots, output
slots and widget order, so the files match what frontend 1.27.10 itself saves. Thumbnails and screenshots are
rendered in the real front end with headless Chromium (tests/comfyui/frontend.py).
"""
from __future__ import annotations

import json
import sys
import time
import urllib.request
import uuid
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
from workflow_definitions import COLORS, GROUP_COLOR, WORKFLOWS, Out  # noqa: E402

WORKFLOWS_DIR = REPO_ROOT / "workflows"
# Not directly in workflows/: ComfyUI lists every workflows/*.json as a template.
OBJECT_INFO_PATH = WORKFLOWS_DIR / "node_definitions" / "object_info.json"
PACK_CNR_ID = "reco-video-edit"
CORE_CNR_ID = "comfy-core"

#: Node types that exist only in the front end (no /object_info entry, not part of the API prompt).
FRONTEND_NODES = {"MarkdownNote": ["text"], "Note": ["text"]}
#: Combo inputs whose options are the user's files: their option lists are not saved (they differ per install).
FILE_INPUTS = {
    "UNETLoader": ("unet_name",),
    "CLIPLoader": ("clip_name",),
    "VAELoader": ("vae_name",),
    "ReCoLoRALoader": ("lora_name",),
    "LoadVideo": ("file",),
    "LoadImage": ("image",),
    "ReCoTrainLoRA": ("dataset", "base_model"),
}
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
UPLOAD_FLAGS = ("image_upload", "video_upload", "animated_image_upload")
TITLE_HEIGHT = 30          # LiteGraph.NODE_TITLE_HEIGHT: the title bar sits above a node's pos
GROUP_TITLE_HEIGHT = 34    # a group's title bar (font size 24)
GROUP_PADDING = 10
NODE_GAP = 30              # vertical space between stacked nodes (below the next node's title bar)
COLUMN_GAP = 60            # horizontal space between columns of groups
GROUP_GAP = 40             # vertical space between groups stacked in one column


# --------------------------------------------------------------------------------------------------
# Node definitions: the saved copy of /object_info
# --------------------------------------------------------------------------------------------------
def used_node_types(workflows=None):
    types = set()
    for make in workflows or WORKFLOWS:
        wf = make()
        types.update(node.type for node in all_nodes(wf))
    return sorted(types - set(FRONTEND_NODES))


def trim_node_info(node_type, info):
    """The parts of one /object_info entry that shape a workflow, without tooltips, descriptions and the
    per-install file lists of FILE_INPUTS."""
    keep = ("name", "display_name", "category", "python_module", "output_node", "input_order", "output",
            "output_name", "output_is_list")
    trimmed = {key: info[key] for key in keep if key in info}
    trimmed["input"] = {}
    for section, inputs in info.get("input", {}).items():
        trimmed["input"][section] = {}
        for name, spec in inputs.items():
            spec = json.loads(json.dumps(spec))
            options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else None
            if options is not None:
                options.pop("tooltip", None)
            if name in FILE_INPUTS.get(node_type, ()):
                if isinstance(spec[0], list):
                    spec[0] = []
                if options is not None and "options" in options:
                    options["options"] = []
            trimmed["input"][section][name] = spec
    return trimmed


def fetch_object_info(server, node_types):
    """{"_meta": {...}, node type: trimmed info} from a running ComfyUI."""
    server = server.rstrip("/")
    with urllib.request.urlopen(f"{server}/system_stats", timeout=30) as resp:
        stats = json.load(resp)["system"]
    saved = {"_meta": {"comfyui_version": stats.get("comfyui_version"),
                       "frontend_version": stats.get("required_frontend_version"),
                       "note": "written by scripts/make_workflows.py --server; node definitions used by workflows/"}}
    for node_type in node_types:
        with urllib.request.urlopen(f"{server}/object_info/{node_type}", timeout=30) as resp:
            info = json.load(resp).get(node_type)
        if info is None:
            raise SystemExit(f"{server} has no node {node_type} (is the pack installed and importing?)")
        saved[node_type] = trim_node_info(node_type, info)
    return saved


def load_object_info(path=OBJECT_INFO_PATH):
    return json.loads(Path(path).read_text(encoding="utf-8"))


def input_specs(info):
    """[(name, spec, optional)] in the node's input order (required, then optional)."""
    specs = []
    order = info.get("input_order") or {s: list(v) for s, v in info["input"].items()}
    for section in ("required", "optional"):
        for name in order.get(section, []):
            specs.append((name, info["input"][section][name], section == "optional"))
    return specs


def input_type(spec):
    """"INT", "COMBO", "IMAGE", ... (a V1 combo is a list of options)."""
    return "COMBO" if isinstance(spec[0], list) else spec[0]


def spec_options(spec):
    return spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}


def is_widget(spec):
    return input_type(spec) in WIDGET_TYPES and not spec_options(spec).get("forceInput")


def combo_values(spec):
    return spec[0] if isinstance(spec[0], list) else spec_options(spec).get("options", [])


def widget_layout(node_type, info):
    """The front end's widgets of a node type, in order: [(widget name, input name or None, kind)] where kind
    is "input" (a widget for an input), "control" (control_after_generate) or "upload" (the file button)."""
    if node_type in FRONTEND_NODES:
        return [(name, name, "input") for name in FRONTEND_NODES[node_type]]
    layout = []
    for name, spec, _optional in input_specs(info):
        if not is_widget(spec):
            continue
        layout.append((name, name, "input"))
        options = spec_options(spec)
        kind = input_type(spec)
        if kind in ("INT", "FLOAT") and (options.get("control_after_generate") or name in ("seed", "noise_seed")):
            layout.append(("control_after_generate", None, "control"))
        elif kind == "COMBO" and options.get("control_after_generate"):
            raise NotImplementedError(f"{node_type}.{name}: combo with control_after_generate")
        if kind == "COMBO" and any(options.get(flag) for flag in UPLOAD_FLAGS):
            layout.append(("upload", None, "upload"))
    return layout


# --------------------------------------------------------------------------------------------------
# Building the UI JSON
# --------------------------------------------------------------------------------------------------
def all_nodes(wf):
    return [*wf.notes, *(node for column in wf.columns for group in column for node in group.nodes)]


def check_widget_value(node, name, spec, value):
    kind = input_type(spec)
    options = spec_options(spec)
    where = f"{node.type}.{name} = {value!r}"
    if kind == "COMBO":
        values = combo_values(spec)
        if name in FILE_INPUTS.get(node.type, ()):
            if not isinstance(value, str) or "/" in value or "\\" in value:
                raise ValueError(f"{where}: file widgets take a bare file name")
        elif value not in values:
            raise ValueError(f"{where}: not one of {values}")
    elif kind == "BOOLEAN":
        if not isinstance(value, bool):
            raise ValueError(f"{where}: not a boolean")
    elif kind in ("INT", "FLOAT"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind == "INT" and value != int(value)):
            raise ValueError(f"{where}: not an {kind}")
        if "min" in options and value < options["min"] or "max" in options and value > options["max"]:
            raise ValueError(f"{where}: outside [{options.get('min')}, {options.get('max')}]")
    elif kind == "STRING" and not isinstance(value, str):
        raise ValueError(f"{where}: not a string")


def default_value(spec):
    options = spec_options(spec)
    if "default" in options:
        return options["default"]
    if input_type(spec) == "COMBO":
        values = combo_values(spec)
        return values[0] if values else None
    return {"INT": 0, "FLOAT": 0.0, "STRING": "", "BOOLEAN": False}.get(input_type(spec))


def node_widgets_values(node, info):
    """widgets_values in widget order (a linked widget input keeps its Out's widget_value or its default)."""
    values = []
    layout = widget_layout(node.type, info)
    specs = {name: spec for name, spec, _ in input_specs(info)} if info else {}
    known = {entry[1] for entry in layout if entry[1]} | {"control_after_generate"}
    extra = set(node.values) - known - {n for n, s in specs.items() if not is_widget(s)}
    if extra:
        raise ValueError(f"{node.type}: unknown inputs {sorted(extra)}")
    for widget, input_name, kind in layout:
        if kind == "upload":
            values.append("image")      # what the front end stores for its upload button
        elif kind == "control":
            values.append(node.values.get("control_after_generate", "randomize"))
        elif node.type in FRONTEND_NODES:
            values.append(node.values[input_name])
        else:
            value = node.values.get(input_name)
            if isinstance(value, Out):
                value = default_value(specs[input_name]) if value.widget_value is None else value.widget_value
            elif input_name not in node.values:
                value = default_value(specs[input_name])
            check_widget_value(node, input_name, specs[input_name], value)
            values.append(value)
    return values


def layout_workflow(wf):
    """Give every node an id and a position; return the groups' bounding boxes [(title, [x, y, w, h])]."""
    next_id = 1
    for node in all_nodes(wf):
        node.id = next_id
        next_id += 1
    top = 0
    x = 0
    for note in wf.notes:
        note.pos = (x, top + TITLE_HEIGHT)
        x += note.size[0] + COLUMN_GAP
    bounds = []
    for column in wf.columns:
        width = max(node.size[0] for group in column for node in group.nodes)
        y = top
        for group in column:
            node_y = y + GROUP_TITLE_HEIGHT + GROUP_PADDING + TITLE_HEIGHT
            for node in group.nodes:
                node.pos = (x + GROUP_PADDING, node_y)
                node_y += node.size[1] + NODE_GAP + TITLE_HEIGHT
            height = node_y - NODE_GAP - TITLE_HEIGHT + GROUP_PADDING - y
            bounds.append((group.title, [x, y, width + 2 * GROUP_PADDING, height]))
            y += height + GROUP_GAP
        x += width + 2 * GROUP_PADDING + COLUMN_GAP
    return bounds


def execution_order(nodes, links):
    """LiteGraph's "order": a topological order, ties broken by node id."""
    incoming = {node.id: set() for node in nodes}
    for _, origin, _, target, _, _ in links:
        incoming[target].add(origin)
    order, done = {}, set()
    while len(done) < len(nodes):
        ready = sorted(nid for nid, deps in incoming.items() if nid not in done and deps <= done)
        if not ready:
            raise ValueError("the workflow has a cycle")
        for nid in ready:
            order[nid] = len(order)
            done.add(nid)
    return order


def build_workflow(wf, object_info):
    """The UI-format JSON (a dict) of one described workflow."""
    group_bounds = layout_workflow(wf)
    nodes = all_nodes(wf)
    infos = {node.id: object_info.get(node.type) for node in nodes}
    for node in nodes:
        if node.type not in FRONTEND_NODES and infos[node.id] is None:
            raise ValueError(f"{node.type}: not in {OBJECT_INFO_PATH.name}; refresh it with --server")

    # Links, in node order then input order.
    links, link_of = [], {}
    for node in nodes:
        info = infos[node.id]
        if info is None:
            continue
        for name, spec, _ in input_specs(info):
            value = node.values.get(name)
            if not isinstance(value, Out):
                continue
            origin_info = infos[value.node.id]
            slot = origin_info["output_name"].index(value.name)
            out_type = origin_info["output"][slot]
            in_type = input_type(spec)
            if in_type != out_type and "*" not in (in_type, out_type):
                raise ValueError(f"{node.type}.{name} ({in_type}) cannot take "
                                 f"{value.node.type}.{value.name} ({out_type})")
            link_id = len(links) + 1
            link_of[(node.id, name)] = link_id
            links.append([link_id, value.node.id, slot, node.id, None, out_type])   # target slot set below
    order = execution_order(nodes, links)

    node_dicts = []
    for node in nodes:
        info = infos[node.id]
        inputs, outputs = [], []
        if info is not None:
            sockets = [(n, s, o) for n, s, o in input_specs(info) if not is_widget(s)]
            widgets = [(n, s, o) for n, s, o in input_specs(info) if is_widget(s)]
            for name, spec, optional in [*sockets, *widgets]:        # the front end's slot order
                entry = {"localized_name": name, "name": name}
                if optional:
                    entry["shape"] = 7
                entry["type"] = input_type(spec)
                if is_widget(spec):
                    entry["widget"] = {"name": name}
                entry["link"] = link_of.get((node.id, name))
                if entry["link"] is not None:
                    links[entry["link"] - 1][4] = len(inputs)
                elif not is_widget(spec) and not optional:
                    raise ValueError(f"{node.type}: required input {name} is not connected")
                inputs.append(entry)
                if is_widget(spec) and any(spec_options(spec).get(flag) for flag in UPLOAD_FLAGS):
                    inputs.append({"localized_name": "choose file to upload", "name": "upload", "type": "IMAGEUPLOAD",
                                   "widget": {"name": "upload"}, "link": None})   # the upload button's slot
            for slot, (name, out_type) in enumerate(zip(info["output_name"], info["output"])):
                targets = [link[0] for link in links if link[1] == node.id and link[2] == slot]
                outputs.append({"localized_name": name, "name": name, "type": out_type, "links": targets or None})
        properties = {}
        if info is not None:
            properties["Node name for S&R"] = node.type
            pack = info.get("python_module", "").startswith("custom_nodes.")
            properties["cnr_id"] = PACK_CNR_ID if pack else CORE_CNR_ID
            if not pack and object_info.get("_meta", {}).get("comfyui_version"):
                properties["ver"] = object_info["_meta"]["comfyui_version"]
        if node.models:
            properties["models"] = [model.entry() for model in node.models]
        entry = {"id": node.id, "type": node.type, "pos": list(node.pos), "size": list(node.size), "flags": {},
                 "order": order[node.id], "mode": 0, "inputs": inputs, "outputs": outputs}
        if node.title:
            entry["title"] = node.title
        entry["properties"] = properties
        entry["widgets_values"] = node_widgets_values(node, info)
        if node.color:
            entry["color"], entry["bgcolor"] = COLORS[node.color]
        node_dicts.append(entry)

    groups = [{"id": index + 1, "title": title, "bounding": box, "color": GROUP_COLOR, "font_size": 24,
               "flags": {}} for index, (title, box) in enumerate(group_bounds)]
    left = min(node.pos[0] for node in nodes)
    top = min(node.pos[1] - TITLE_HEIGHT for node in nodes)
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"https://github.com/reco-pack/comfyui-reco/workflows/{wf.name}")),
        "revision": 0,
        "last_node_id": max(node.id for node in nodes),
        "last_link_id": len(links),
        "nodes": node_dicts,
        "links": links,
        "groups": groups,
        "config": {},
        "extra": {"ds": {"scale": wf.scale, "offset": [round(40 / wf.scale - left), round(60 / wf.scale - top)]},
                  "frontendVersion": object_info.get("_meta", {}).get("frontend_version")},
        "version": 0.4,
    }


def dumps(workflow):
    return json.dumps(workflow, indent=2, ensure_ascii=False) + "\n"


def build_all(object_info=None):
    """{file name: JSON text} for every workflow."""
    object_info = object_info if object_info is not None else load_object_info()
    return {f"{make.__name__}.json": dumps(build_workflow(make(), object_info)) for make in WORKFLOWS}


# --------------------------------------------------------------------------------------------------
# UI JSON -> API prompt (what the front end's graphToPrompt sends), for checks
# --------------------------------------------------------------------------------------------------
def to_api_prompt(workflow, object_info):
    """{node id: {"class_type", "inputs"}} for the executable nodes of a UI-format workflow."""
    links = {link[0]: link for link in workflow["links"]}
    prompt = {}
    for node in workflow["nodes"]:
        if node["type"] in FRONTEND_NODES or node.get("mode", 0) in (2, 4):
            continue
        info = object_info[node["type"]]
        linked = {slot["name"]: links[slot["link"]] for slot in node.get("inputs", []) if slot.get("link") is not None}
        values = dict(zip([w[1] for w in widget_layout(node["type"], info)], node["widgets_values"]))
        inputs = {}
        for name, spec, _ in input_specs(info):
            if name in linked:
                inputs[name] = [str(linked[name][1]), linked[name][2]]
            elif is_widget(spec) and name in values:
                inputs[name] = values[name]
        prompt[str(node["id"])] = {"inputs": inputs, "class_type": node["type"]}
    return prompt


# --------------------------------------------------------------------------------------------------
# Thumbnails and screenshots in the real front end
# --------------------------------------------------------------------------------------------------
def load_frontend_module():
    sys.path.insert(0, str(REPO_ROOT / "tests" / "comfyui"))
    try:
        import frontend
    finally:
        sys.path.pop(0)
    return frontend


def render_workflows(server, names, thumbnails=True, screenshot_dir=None):
    focus = {make.__name__: make().thumbnail_groups for make in WORKFLOWS}
    frontend = load_frontend_module()
    binary = frontend.find_chromium()
    if not binary:
        raise SystemExit("no Chromium found: install chromium or set CHROME_PATH")
    with frontend.Browser.launch(binary, timeout=60) as browser:
        page = browser.new_page(width=2600, height=1500)
        open_frontend(page, server)
        for name in names:
            workflow = json.loads((WORKFLOWS_DIR / f"{name}.json").read_text(encoding="utf-8"))
            show_workflow(page, workflow)
            if screenshot_dir:
                path = Path(screenshot_dir) / f"workflow_{name}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                capture(page, path, scale=1.0, fmt="png")
                print(f"wrote {path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path}")
            if thumbnails:
                path = WORKFLOWS_DIR / f"{name}.jpg"
                capture(page, path, scale=0.75, fmt="jpeg", aspect=4 / 3, width=640, groups=focus.get(name))
                print(f"wrote {path.relative_to(REPO_ROOT)}")


#: Front-end settings that keep overlays (minimap, canvas menu, dialogs) out of the pictures.
CLEAN_SETTINGS = {"Comfy.Minimap.Visible": False, "Comfy.Graph.CanvasMenu": False,
                  "Comfy.Workflow.ShowMissingModelsWarning": False, "Comfy.Workflow.ShowMissingNodesWarning": False,
                  "Comfy.TutorialCompleted": True}   # a first visit opens the template browser over the graph


def open_frontend(page, server):
    page.navigate(server.rstrip("/") + "/")
    page.wait_for("!!(window.app && window.app.graph && window.app.canvas && window.LiteGraph && "
                  "Object.keys(LiteGraph.registered_node_types || {}).length > 50)", timeout=90)
    page.evaluate(f"""(async () => {{
        const settings = {json.dumps(CLEAN_SETTINGS)};
        for (const [id, value] of Object.entries(settings)) {{
            try {{ await app.extensionManager.setting.set(id, value); }} catch (e) {{}}
        }}
    }})()""")
    page.evaluate("""document.querySelectorAll('[role=dialog] .p-dialog-close-button, [role=dialog] button[aria-label=Close]')
        .forEach(button => button.click())""")


def show_workflow(page, workflow):
    page.evaluate(f"""(async () => {{
        await app.loadGraphData({json.dumps(workflow)}, true, true, null,
                                {{showMissingNodesDialog: false, showMissingModelsDialog: false}});
    }})()""")
    time.sleep(1.5)   # DOM widgets (notes, text boxes) settle


def graph_bounds_js(groups=()):
    """[x, y, w, h] around the loaded graph, or around the named groups only."""
    return f"""(() => {{
        const only = {json.dumps(list(groups or []))};
        let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
        const add = (x, y, w, h) => {{
            x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x + w); y1 = Math.max(y1, y + h);
        }};
        if (!only.length) for (const n of app.graph.nodes)
            add(n.pos[0], n.pos[1] - LiteGraph.NODE_TITLE_HEIGHT, n.size[0], n.size[1] + LiteGraph.NODE_TITLE_HEIGHT);
        for (const g of app.graph.groups || [])
            if (!only.length || only.includes(g.title)) add(g.pos[0], g.pos[1], g.size[0], g.size[1]);
        return [x0, y0, x1 - x0, y1 - y0];
    }})()"""


def capture(page, path, scale, fmt, aspect=None, width=None, groups=()):
    """Zoom the canvas to `scale`, frame the whole graph or the named `groups` (padded to `aspect` when
    given) and capture it; `width` sets the picture's width in pixels."""
    margin, pad = 30, 40
    x, y, w, h = page.evaluate(graph_bounds_js(groups))
    frame_w, frame_h = w + 2 * margin, h + 2 * margin
    if aspect:
        if frame_w / frame_h > aspect:
            frame_h = frame_w / aspect
        else:
            frame_w = frame_h * aspect
    frame_x, frame_y = x - (frame_w - w) / 2, y - (frame_h - h) / 2
    # The canvas sits right of the side bar and below the menu bar: make the window large enough for the
    # frame plus those, then place the frame `pad` pixels inside the canvas.
    view_w, view_h = int(frame_w * scale) + 300, int(frame_h * scale) + 300
    page.set_viewport(view_w, view_h)
    page.wait_for(f"window.innerWidth === {view_w} && window.innerHeight === {view_h}", timeout=10)
    time.sleep(0.5)
    left, top = page.evaluate(f"""(() => {{
        app.canvas.resize();
        app.canvas.ds.scale = {scale};
        app.canvas.ds.offset = [{pad / scale - frame_x}, {pad / scale - frame_y}];
        app.canvas.setDirty(true, true); app.canvas.draw(true, true);
        const r = app.canvas.canvas.getBoundingClientRect();
        return [r.left + {pad}, r.top + {pad}];
    }})()""")
    time.sleep(1.0)   # DOM widgets follow the canvas on the next frames
    out_scale = (width / (frame_w * scale)) if width else 1.0
    data = page.screenshot(clip=(left, top, frame_w * scale, frame_h * scale, out_scale), fmt=fmt,
                           quality=80 if fmt == "jpeg" else None)
    Path(path).write_bytes(data)
