"""The ReCo viewers in a headless front end: opening a tab, pointer and keys, the viewers' videos and state.

Shared by the front-end tests (test_web_extension.py, test_workflows.py).
"""
import io
import json
from contextlib import contextmanager

import pytest

from frontend import Browser, find_chromium

COMPARE = ".reco-viewer.reco-compare"
REGION = ".reco-viewer.reco-region"
FRONTEND_READY = ("!!(window.app && app.graph && app.canvas && window.LiteGraph && app.extensionManager && "
                  "Object.keys(LiteGraph.registered_node_types || {}).length > 50)")


@contextmanager
def frontend_tab(server_url, width, height):
    """A headless Chromium tab with the front end loaded (skips the test without Chromium)."""
    binary = find_chromium()
    if not binary:
        pytest.skip("no Chromium found: install chromium (chromium-browser, google-chrome) or set CHROME_PATH")
    browser = Browser.launch(binary, timeout=60)
    try:
        tab = browser.new_page(width=width, height=height)
        tab.navigate(server_url + "/")
        tab.wait_for(FRONTEND_READY, timeout=90)
        yield tab
    finally:
        browser.close()


def rect(page, selector):
    box = page.evaluate(f"""(() => {{ const e = document.querySelector({json.dumps(selector)});
        if (!e) return null; const r = e.getBoundingClientRect(); return [r.x, r.y, r.width, r.height]; }})()""")
    assert box, f"{selector} is not on the page"
    return box


def mouse(page, kind, x, y, pressed=False):
    page.call("Input.dispatchMouseEvent", {"type": kind, "x": x, "y": y, "button": "left",
                                           "buttons": 1 if pressed else 0, "clickCount": 1})


def click(page, selector):
    x, y, w, h = rect(page, selector)
    mouse(page, "mouseMoved", x + w / 2, y + h / 2)
    mouse(page, "mousePressed", x + w / 2, y + h / 2, pressed=True)
    mouse(page, "mouseReleased", x + w / 2, y + h / 2)


def press_key(page, name, code):
    for kind in ("keyDown", "keyUp"):
        page.call("Input.dispatchKeyEvent", {"type": kind, "key": name, "code": name, "windowsVirtualKeyCode": code})


def screenshot(page, box):
    from PIL import Image

    return Image.open(io.BytesIO(page.screenshot(clip=box))).convert("RGB")


def mean_difference(a, b):
    from PIL import ImageChops, ImageStat

    return sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / 3


def videos(page, viewer):
    return page.evaluate(f"""Array.from(document.querySelectorAll('{viewer} video')).map(v => ({{
        cls: v.className, ready: v.readyState, width: v.videoWidth, height: v.videoHeight, paused: v.paused,
        seeking: v.seeking, time: v.currentTime, src: v.currentSrc, box: [v.clientWidth, v.clientHeight]}}))""")


def pause(page, viewer):
    if not page.evaluate(f"document.querySelector('{viewer} video').paused"):
        click(page, f"{viewer} .reco-play")
    settled(page, viewer)


def settled(page, viewer):
    """Wait until every video of the viewer is paused, not seeking, on the same time, and return that time."""
    page.wait_for(f"""(() => {{ const v = Array.from(document.querySelectorAll('{viewer} video'));
        return v.every(x => x.paused && !x.seeking && x.readyState >= 2)
            && v.every(x => Math.abs(x.currentTime - v[0].currentTime) < 1e-3); }})()""", timeout=15)
    return videos(page, viewer)[0]["time"]


def wipe_position(page):
    return float(page.evaluate(f"document.querySelector('{COMPARE} .reco-frame').dataset.wipe"))


def first_frame(page, viewer):
    """Show frame 1 (for a screenshot that does not depend on where playback stopped)."""
    while counter(page, viewer)[0] != 1:
        click(page, f"{viewer} .reco-previous")
        settled(page, viewer)


def counter(page, viewer):
    current, total = page.evaluate(f"document.querySelector('{viewer} .reco-counter').textContent").split(" / ")
    return int(current), int(total)


def node_box(page, node_id, pad=8):
    """The node's box on screen, title bar included."""
    return page.evaluate(f"""(() => {{
        const node = app.graph.getNodeById({node_id}), ds = app.canvas.ds;
        const canvas = app.canvas.canvas.getBoundingClientRect(), title = LiteGraph.NODE_TITLE_HEIGHT;
        const x = (node.pos[0] + ds.offset[0]) * ds.scale + canvas.left;
        const y = (node.pos[1] - title + ds.offset[1]) * ds.scale + canvas.top;
        const width = node.size[0] * ds.scale, height = (node.size[1] + title) * ds.scale;
        return [x - {pad}, y - {pad}, width + 2 * {pad}, height + 2 * {pad}];
    }})()""")


def deselect(page):
    page.evaluate("app.canvas.deselectAll(); app.canvas.setDirty(true, true); "
                  "new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def drag_wipe(page, frame, start, end, steps=6):
    """Press on the viewer frame [x, y, w, h] at fraction `start` of its width, drag to `end` and release."""
    x, y, w, h = frame
    mouse(page, "mouseMoved", x + w * start, y + h / 2)
    mouse(page, "mousePressed", x + w * start, y + h / 2, pressed=True)
    for k in range(1, steps + 1):
        mouse(page, "mouseMoved", x + w * (start + (end - start) * k / steps), y + h / 2, pressed=True)
    mouse(page, "mouseReleased", x + w * end, y + h / 2)
