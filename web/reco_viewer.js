// ReCo viewers for the ComfyUI front end (an ES module, loaded from the pack's web directory; no build step).
//
// - Before/after: on any node whose result carries `reco_compare` (ReCo Decode), two synced videos with a
//   draggable vertical wipe (source left of it, edit right of it), play/pause, frame stepping (buttons, or the
//   arrow keys while the pointer is over the viewer) and a frame counter.
// - Region: on any node whose result carries `reco_region` (ReCo Sampler), the sampled preview with the edit
//   region tinted over it, a button to show or hide the tint, play/pause and frame stepping.
// - Notes: on any node whose result carries `reco_notes` (ReCo In-Context Edit, ReCo Decode), the sentences saying
//   what the node did to fit its input (a short clip padded, padded frames trimmed); an empty list clears them.
//
// The ui contract is written by nodes/previews.py. Only the front end's public extension API is used:
// app.registerExtension, the node's onExecuted, node.addDOMWidget and the onNodeOutputsUpdated hook.

import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";

const COMPARE_KEY = "reco_compare";
const REGION_KEY = "reco_region";
const NOTES_KEY = "reco_notes";
const COMPARE_WIDGET = "reco_compare_viewer";
const REGION_WIDGET = "reco_region_viewer";
const NOTES_WIDGET = "reco_notes";
const NOTE_LINE_HEIGHT = 16;
const CONTROLS_HEIGHT = 34;
const MIN_STAGE_HEIGHT = 96;
const DEFAULT_NODE_WIDTH = 420;
const REGION_TINT = [255, 64, 160]; // pink: reads on dark and bright content alike
const DRIFT_FRAMES = 1.5; // a playing follower further than this from the leader is re-aligned

// English defaults; locales/<lang>/main.json may override them under reco.viewer.
const STRINGS = {
  play: "Play",
  pause: "Pause",
  previousFrame: "Previous frame (←)",
  nextFrame: "Next frame (→)",
  source: "Source",
  edit: "Edit",
  preview: "Sampled preview",
  region: "Region",
  toggleRegion: "Show or hide the edit region",
  wipe: "Drag to compare the source (left) with the edit (right)",
  frame: "Frame",
  coverage: "Region: {percent}% of the frame",
  details: "{width}×{height} · {frames} frames · {fps} fps",
  missing: "Preview not found: ComfyUI empties its temp folder when it starts. Run the graph again.",
};
let strings = STRINGS;
let stringsLoading = null;

function loadStrings() {
  stringsLoading ??= (async () => {
    try {
      const locale = app.extensionManager?.setting?.get?.("Comfy.Locale") || navigator.language?.split("-")[0] || "en";
      const all = await api.getCustomNodesI18n();
      strings = { ...STRINGS, ...(all?.en?.reco?.viewer ?? {}), ...(all?.[locale]?.reco?.viewer ?? {}) };
    } catch {
      strings = STRINGS; // an older server without /i18n: keep English
    }
  })();
  return stringsLoading;
}

function text(key, values = {}) {
  return (strings[key] ?? STRINGS[key] ?? key).replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
}

// ---------------------------------------------------------------------------------------------------------------
// Small DOM helpers
// ---------------------------------------------------------------------------------------------------------------

const ICONS = {
  play: '<path d="M7 4.5v15l12.5-7.5z"/>',
  pause: '<path d="M6.5 4.5h4v15h-4zM13.5 4.5h4v15h-4z"/>',
  previous: '<path d="M5 5h2.5v14H5zM19 5v14L8.5 12z"/>',
  next: '<path d="M16.5 5H19v14h-2.5zM5 5v14l10.5-7z"/>',
  wipe: '<path d="M9 6v12L2 12zM15 6v12l7-6z"/>',
  region: '<path d="M4 4h16v16H4z" fill="none" stroke="currentColor" stroke-width="2" stroke-dasharray="3 2"/>' +
    '<path d="M8 8h8v8H8z"/>',
};

function element(tag, className, properties = {}) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  Object.assign(node, properties);
  return node;
}

function svgIcon(icon, size) {
  return `<svg viewBox="0 0 24 24" width="${size}" height="${size}" fill="currentColor" aria-hidden="true">` +
    `${ICONS[icon]}</svg>`;
}

function iconButton(className, icon, title, onClick) {
  const button = element("button", `reco-button ${className}`, { type: "button", title });
  button.setAttribute("aria-label", title);
  button.innerHTML = svgIcon(icon, 16);
  button.addEventListener("click", (event) => {
    event.stopPropagation();
    onClick();
  });
  return button;
}

function setIcon(button, icon, title) {
  button.querySelector("svg").innerHTML = ICONS[icon];
  button.title = title;
  button.setAttribute("aria-label", title);
}

function fileUrl(file) {
  const params = new URLSearchParams({
    filename: file.filename,
    subfolder: file.subfolder ?? "",
    type: file.type ?? "temp",
  });
  return api.apiURL(`/view?${params}`);
}

function isFile(file) {
  return !!file && typeof file.filename === "string" && file.filename.length > 0;
}

function previewVideo(className) {
  const video = element("video", `reco-video ${className}`, {
    muted: true,
    loop: true,
    playsInline: true,
    preload: "auto",
    disablePictureInPicture: true,
  });
  video.setAttribute("muted", "");
  return video;
}

function isTyping(target) {
  return target instanceof HTMLElement &&
    (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
}

const STYLE = `
.reco-viewer { display: flex; flex-direction: column; width: 100%; height: 100%; box-sizing: border-box;
  gap: 4px; font: 12px/1.2 var(--font-inter, system-ui, sans-serif); color: var(--input-text, #ddd);
  user-select: none; -webkit-user-select: none; }
.reco-stage { position: relative; flex: 1 1 auto; min-height: 0; display: flex; align-items: center;
  justify-content: center; overflow: hidden; background: #0b0b0d; border-radius: 6px; }
.reco-frame { position: relative; flex: none; overflow: hidden; touch-action: none; }
.reco-video, .reco-overlay { position: absolute; inset: 0; width: 100%; height: 100%; display: block;
  object-fit: fill; pointer-events: none; }
.reco-mask-video { opacity: 0; }
.reco-compare .reco-frame { cursor: ew-resize; }
.reco-wipe { position: absolute; top: 0; bottom: 0; width: 0; pointer-events: none; }
.reco-wipe::before { content: ""; position: absolute; top: 0; bottom: 0; left: -1px; width: 2px;
  background: rgba(255, 255, 255, 0.9); box-shadow: 0 0 3px rgba(0, 0, 0, 0.8); }
.reco-wipe-handle { position: absolute; top: 50%; left: -11px; width: 22px; height: 22px; margin-top: -11px;
  border-radius: 50%; background: rgba(255, 255, 255, 0.95); box-shadow: 0 0 4px rgba(0, 0, 0, 0.7);
  display: flex; align-items: center; justify-content: center; color: #222; font-size: 10px; }
.reco-badge { position: absolute; top: 6px; padding: 2px 6px; border-radius: 4px; background: rgba(0, 0, 0, 0.6);
  color: #fff; font-size: 11px; pointer-events: none; white-space: nowrap; }
.reco-badge-left { left: 6px; }
.reco-badge-right { right: 6px; }
.reco-message { position: absolute; inset: 0; display: none; align-items: center; justify-content: center;
  padding: 12px; text-align: center; color: #eee; background: rgba(0, 0, 0, 0.75); }
.reco-viewer.reco-failed .reco-message { display: flex; }
.reco-controls { flex: none; height: ${CONTROLS_HEIGHT - 4}px; display: flex; align-items: center; gap: 4px; }
.reco-button { height: 26px; min-width: 28px; padding: 0 6px; display: inline-flex; align-items: center;
  justify-content: center; gap: 4px; border: 1px solid var(--border-color, #444); border-radius: 5px;
  background: var(--comfy-input-bg, #222); color: inherit; cursor: pointer; font: inherit; }
.reco-button:hover { filter: brightness(1.25); }
.reco-button[aria-pressed="true"] { border-color: rgb(${REGION_TINT.join(",")}); }
.reco-swatch { width: 10px; height: 10px; border-radius: 2px; background: rgb(${REGION_TINT.join(",")}); }
.reco-button[aria-pressed="false"] .reco-swatch { background: transparent; outline: 1px solid currentColor; }
.reco-counter { min-width: 64px; text-align: center; font-variant-numeric: tabular-nums; }
.reco-spacer { flex: 1 1 auto; }
.reco-info { opacity: 0.7; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.reco-notes { box-sizing: border-box; width: 100%; padding: 2px 4px; font: 11px/${NOTE_LINE_HEIGHT}px
  var(--font-inter, system-ui, sans-serif); color: var(--input-text, #ddd); opacity: 0.85; overflow: hidden; }
.reco-notes p { margin: 0; }
.reco-notes p::before { content: "ⓘ "; opacity: 0.7; }
`;

function ensureStyle() {
  if (document.getElementById("reco-viewer-style")) return;
  document.head.append(element("style", "", { id: "reco-viewer-style", textContent: STYLE }));
}

// ---------------------------------------------------------------------------------------------------------------
// Synced playback: one leader video, followers that keep to its currentTime
// ---------------------------------------------------------------------------------------------------------------

class SyncedClips {
  constructor(leader, followers, onUpdate) {
    this.leader = leader;
    this.followers = followers;
    this.onUpdate = onUpdate;
    this.fps = 16;
    this.frames = 1;
    this.frameRequest = 0;
    this.tick = this.tick.bind(this);
    this.listeners = [];
    this.listen(leader, "play", () => this.startTicking());
    this.listen(leader, "pause", () => this.alignFollowers(true));
    this.listen(leader, "seeked", () => this.alignFollowers(true));
    this.listen(leader, "timeupdate", () => this.onUpdate());
    for (const video of [leader, ...followers]) this.listen(video, "seeked", () => this.onUpdate());
  }

  listen(target, type, handler) {
    target.addEventListener(type, handler);
    this.listeners.push([target, type, handler]);
  }

  get videos() {
    return [this.leader, ...this.followers];
  }

  get playing() {
    return !this.leader.paused && !this.leader.ended;
  }

  load(urls, fps, frames) {
    this.pause();
    this.fps = fps > 0 ? fps : 16;
    this.frames = Math.max(1, frames | 0);
    this.videos.forEach((video, i) => {
      video.src = urls[i];
      video.load();
    });
  }

  ready() {
    return this.videos.every((video) => video.readyState >= HTMLMediaElement.HAVE_CURRENT_DATA);
  }

  frameIndex() {
    const index = Math.floor(this.leader.currentTime * this.fps + 1e-3);
    return Math.min(this.frames - 1, Math.max(0, index));
  }

  play() {
    for (const video of this.videos) video.play().catch(() => {}); // a pause or a new source interrupts play()
  }

  pause() {
    for (const video of this.videos) video.pause();
  }

  toggle() {
    if (this.playing) this.pause();
    else this.play();
    this.onUpdate();
  }

  seekFrame(index) {
    this.pause();
    const frame = ((index % this.frames) + this.frames) % this.frames;
    const time = (frame + 0.5) / this.fps; // the middle of the frame: no rounding onto its neighbour
    for (const video of this.videos) video.currentTime = time;
    this.onUpdate();
  }

  step(delta) {
    this.seekFrame(this.frameIndex() + delta);
  }

  alignFollowers(exact) {
    const time = this.leader.currentTime;
    const tolerance = exact ? 1e-3 : DRIFT_FRAMES / this.fps;
    for (const video of this.followers) {
      if (this.playing && video.paused) video.play().catch(() => {});
      if (!this.playing && !video.paused) video.pause();
      if (!video.seeking && Math.abs(video.currentTime - time) > tolerance) video.currentTime = time;
    }
    this.onUpdate();
  }

  startTicking() {
    if (!this.frameRequest) this.frameRequest = requestAnimationFrame(this.tick);
  }

  tick() {
    this.frameRequest = 0;
    this.alignFollowers(false);
    if (this.playing) this.startTicking();
  }

  destroy() {
    cancelAnimationFrame(this.frameRequest);
    this.frameRequest = 0;
    for (const [target, type, handler] of this.listeners) target.removeEventListener(type, handler);
    this.listeners = [];
    for (const video of this.videos) {
      video.pause();
      video.removeAttribute("src");
      video.load(); // releases the decoder and the connection
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The viewer shell: stage sized to the clip's aspect ratio, controls, keyboard and canvas pass-through
// ---------------------------------------------------------------------------------------------------------------

class Viewer {
  constructor(kind) {
    ensureStyle();
    this.root = element("div", `reco-viewer reco-${kind}`);
    this.stage = element("div", "reco-stage");
    this.frame = element("div", "reco-frame");
    this.message = element("div", "reco-message");
    this.controls = element("div", "reco-controls");
    this.stage.append(this.frame, this.message);
    this.root.append(this.stage, this.controls);
    this.aspect = 9 / 16;
    this.entry = null;
    this.cleanups = [];

    this.playButton = iconButton("reco-play", "play", text("play"), () => this.clips.toggle());
    this.previousButton = iconButton("reco-previous", "previous", text("previousFrame"), () => this.clips.step(-1));
    this.nextButton = iconButton("reco-next", "next", text("nextFrame"), () => this.clips.step(1));
    this.counter = element("span", "reco-counter", { title: text("frame") });
    this.info = element("span", "reco-info");
    this.controls.append(this.playButton, this.previousButton, this.nextButton, this.counter,
      element("span", "reco-spacer"), this.info);

    this.onKey = this.onKey.bind(this);
    this.on(this.root, "pointerenter", () => window.addEventListener("keydown", this.onKey, true));
    this.on(this.root, "pointerleave", () => window.removeEventListener("keydown", this.onKey, true));
    this.cleanups.push(() => window.removeEventListener("keydown", this.onKey, true));
    this.passCanvasGestures();

    this.resizeObserver = new ResizeObserver(() => this.fitFrame());
    this.resizeObserver.observe(this.stage);
    this.cleanups.push(() => this.resizeObserver.disconnect());
  }

  on(target, type, handler, options) {
    target.addEventListener(type, handler, options);
    this.cleanups.push(() => target.removeEventListener(type, handler, options));
  }

  attachClips(leader, followers) {
    this.clips = new SyncedClips(leader, followers, () => this.update());
    for (const video of [leader, ...followers]) {
      this.on(video, "error", () => this.fail());
      this.on(video, "loadeddata", () => this.maybeStart());
    }
  }

  // Wheel zooms and middle-button drags pan the canvas, as over the rest of the node.
  passCanvasGestures() {
    const canvas = () => app.canvas;
    this.on(this.root, "wheel", (event) => {
      event.preventDefault();
      canvas()?.processMouseWheel?.(event);
    }, { passive: false });
    this.on(this.root, "pointerdown", (event) => {
      if (event.button === 1) canvas()?.processMouseDown?.(event);
    });
    this.on(this.root, "pointermove", (event) => {
      if ((event.buttons & 4) === 4) canvas()?.processMouseMove?.(event);
    });
    this.on(this.root, "pointerup", (event) => {
      if (event.button === 1) canvas()?.processMouseUp?.(event);
    });
  }

  onKey(event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || isTyping(event.target)) return;
    const delta = { ArrowLeft: -1, ArrowRight: 1 }[event.key];
    if (!delta || !this.clips) return;
    event.preventDefault();
    event.stopImmediatePropagation();
    this.clips.step(delta);
  }

  show(entry, urls) {
    this.entry = entry;
    this.started = false;
    this.root.classList.remove("reco-failed");
    this.aspect = entry.width > 0 && entry.height > 0 ? entry.height / entry.width : 9 / 16;
    this.info.textContent = text("details", entry);
    this.fitFrame();
    this.clips.load(urls, Number(entry.fps), Number(entry.frames));
    this.update();
  }

  maybeStart() {
    if (this.started || !this.clips.ready()) return;
    this.started = true;
    this.clips.seekFrame(0);
    this.clips.play();
  }

  fail() {
    if (!this.entry) return; // a source removed on purpose (destroy) is no failure
    this.message.textContent = text("missing");
    this.root.classList.add("reco-failed");
  }

  fitFrame() {
    const width = this.stage.clientWidth;
    const height = this.stage.clientHeight;
    if (!width || !height) return;
    const fitted = Math.min(width, height / this.aspect);
    this.frame.style.width = `${Math.floor(fitted)}px`;
    this.frame.style.height = `${Math.floor(fitted * this.aspect)}px`;
  }

  update() {
    if (!this.clips) return;
    const playing = this.clips.playing;
    if (playing !== this.shownPlaying) {
      this.shownPlaying = playing;
      setIcon(this.playButton, playing ? "pause" : "play", text(playing ? "pause" : "play"));
    }
    const count = `${this.clips.frameIndex() + 1} / ${this.clips.frames}`;
    if (this.counter.textContent !== count) this.counter.textContent = count;
  }

  // The height the node should give the viewer at `width` (the video at full width).
  preferredHeight(width) {
    return Math.round(Math.max(MIN_STAGE_HEIGHT, (width - 20) * this.aspect) + CONTROLS_HEIGHT);
  }

  destroy() {
    this.entry = null;
    this.clips?.destroy();
    for (const cleanup of this.cleanups.splice(0)) cleanup();
    this.root.remove();
  }
}

class CompareViewer extends Viewer {
  constructor() {
    super("compare");
    this.source = previewVideo("reco-source");
    this.edit = previewVideo("reco-edit");
    this.wipe = element("div", "reco-wipe");
    const handle = element("div", "reco-wipe-handle");
    handle.innerHTML = svgIcon("wipe", 14);
    this.wipe.append(handle);
    this.sourceBadge = element("span", "reco-badge reco-badge-left", { textContent: text("source") });
    this.editBadge = element("span", "reco-badge reco-badge-right", { textContent: text("edit") });
    this.frame.append(this.source, this.edit, this.wipe, this.sourceBadge, this.editBadge);
    this.frame.title = text("wipe");
    this.attachClips(this.source, [this.edit]);
    this.setWipe(0.5);
    this.on(this.frame, "pointerdown", (event) => this.startDrag(event));
  }

  startDrag(event) {
    if (event.button !== 0) return;
    event.preventDefault();
    event.stopPropagation();
    this.frame.setPointerCapture(event.pointerId);
    const move = (moved) => this.setWipeAt(moved.clientX);
    const stop = () => {
      this.frame.removeEventListener("pointermove", move);
      this.frame.removeEventListener("pointerup", stop);
      this.frame.removeEventListener("pointercancel", stop);
    };
    this.frame.addEventListener("pointermove", move);
    this.frame.addEventListener("pointerup", stop);
    this.frame.addEventListener("pointercancel", stop);
    this.setWipeAt(event.clientX);
  }

  setWipeAt(clientX) {
    const box = this.frame.getBoundingClientRect(); // screen pixels: right under any canvas zoom
    if (box.width > 0) this.setWipe((clientX - box.left) / box.width);
  }

  setWipe(fraction) {
    this.fraction = Math.min(1, Math.max(0, fraction));
    const percent = `${(this.fraction * 100).toFixed(2)}%`;
    this.edit.style.clipPath = `inset(0 0 0 ${percent})`;
    this.wipe.style.left = percent;
    this.frame.dataset.wipe = this.fraction.toFixed(4);
    this.sourceBadge.style.visibility = this.fraction > 0.08 ? "visible" : "hidden";
    this.editBadge.style.visibility = this.fraction < 0.92 ? "visible" : "hidden";
  }

  showEntry(entry) {
    this.show(entry, [fileUrl(entry.source), fileUrl(entry.edit)]);
  }
}

class RegionViewer extends Viewer {
  constructor() {
    super("region");
    this.preview = previewVideo("reco-preview");
    this.mask = previewVideo("reco-mask-video");
    this.overlay = element("canvas", "reco-overlay");
    this.badge = element("span", "reco-badge reco-badge-left", { textContent: text("preview") });
    this.frame.append(this.mask, this.preview, this.overlay, this.badge);
    this.attachClips(this.preview, [this.mask]);
    this.overlayOn = true;
    this.toggleButton = element("button", "reco-button reco-region-toggle", {
      type: "button",
      title: text("toggleRegion"),
    });
    this.toggleButton.append(element("span", "reco-swatch"), element("span", "", { textContent: text("region") }));
    this.toggleButton.setAttribute("aria-pressed", "true");
    this.on(this.toggleButton, "click", (event) => {
      event.stopPropagation();
      this.setOverlay(!this.overlayOn);
    });
    this.controls.insertBefore(this.toggleButton, this.info);
    this.scratch = document.createElement("canvas");
    this.drawnAt = -1;
    for (const type of ["loadeddata", "seeked", "timeupdate"]) this.on(this.mask, type, () => this.drawOverlay(true));
  }

  setOverlay(on) {
    this.overlayOn = on;
    this.toggleButton.setAttribute("aria-pressed", String(on));
    this.overlay.style.display = on ? "block" : "none";
    if (on) this.drawOverlay(true);
  }

  update() {
    super.update();
    this.drawOverlay(false);
  }

  // Tints the region (the mask clip's white) over the preview, with a solid outline at its edge.
  drawOverlay(force) {
    const mask = this.mask;
    if (!this.overlayOn || mask.readyState < HTMLMediaElement.HAVE_CURRENT_DATA || !mask.videoWidth) return;
    if (!force && mask.currentTime === this.drawnAt) return;
    this.drawnAt = mask.currentTime;
    const width = mask.videoWidth;
    const height = mask.videoHeight;
    for (const canvas of [this.scratch, this.overlay]) {
      if (canvas.width !== width || canvas.height !== height) Object.assign(canvas, { width, height });
    }
    const scratch = this.scratch.getContext("2d", { willReadFrequently: true });
    scratch.drawImage(mask, 0, 0, width, height);
    const source = scratch.getImageData(0, 0, width, height).data;
    const tinted = new ImageData(width, height);
    const out = tinted.data;
    const inside = (x, y) => x >= 0 && y >= 0 && x < width && y < height && source[(y * width + x) * 4] > 127;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        if (!inside(x, y)) continue;
        const edge = !inside(x - 1, y) || !inside(x + 1, y) || !inside(x, y - 1) || !inside(x, y + 1);
        const i = (y * width + x) * 4;
        out[i] = REGION_TINT[0];
        out[i + 1] = REGION_TINT[1];
        out[i + 2] = REGION_TINT[2];
        out[i + 3] = edge ? 235 : 110;
      }
    }
    this.overlay.getContext("2d").putImageData(tinted, 0, 0);
  }

  showEntry(entry) {
    this.drawnAt = -1;
    const coverage = Number(entry.coverage);
    this.badge.textContent = entry.region !== "off" && Number.isFinite(coverage)
      ? text("coverage", { percent: (coverage * 100).toFixed(1) })
      : text("preview");
    this.show(entry, [fileUrl(entry.preview), fileUrl(entry.mask)]);
    this.setOverlay(this.overlayOn);
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Nodes
// ---------------------------------------------------------------------------------------------------------------

const VIEWERS = {
  [COMPARE_KEY]: {
    widget: COMPARE_WIDGET,
    create: () => new CompareViewer(),
    valid: (entry) => isFile(entry.source) && isFile(entry.edit),
  },
  [REGION_KEY]: {
    widget: REGION_WIDGET,
    create: () => new RegionViewer(),
    valid: (entry) => isFile(entry.preview) && isFile(entry.mask),
  },
};

function viewerFor(node, spec) {
  const existing = node.widgets?.find((widget) => widget.name === spec.widget);
  if (existing?.recoViewer) return { viewer: existing.recoViewer, created: false };
  const viewer = spec.create();
  const widget = node.addDOMWidget(spec.widget, "reco-viewer", viewer.root, {
    serialize: false, // not a value: never in widgets_values or the prompt
    hideOnZoom: false,
    getMinHeight: () => MIN_STAGE_HEIGHT + CONTROLS_HEIGHT,
  });
  widget.serialize = false;
  widget.recoViewer = viewer;
  const removeWidget = widget.onRemove?.bind(widget);
  widget.onRemove = () => {
    viewer.destroy();
    removeWidget?.();
  };
  return { viewer, created: true };
}

function growNodeFor(node, viewer) {
  const width = Math.max(node.size[0], DEFAULT_NODE_WIDTH);
  const base = node.computeSize()[1]; // includes the viewer's minimum height
  const wanted = base + viewer.preferredHeight(width) - (MIN_STAGE_HEIGHT + CONTROLS_HEIGHT);
  node.setSize([width, Math.max(node.size[1], wanted)]);
  node.setDirtyCanvas?.(true, true);
}

async function showResults(node, output) {
  if (!node || !output) return;
  await loadStrings(); // the viewer's words in the UI's language (fetched once)
  if (!node.graph) return; // removed meanwhile
  for (const [key, spec] of Object.entries(VIEWERS)) {
    const entry = Array.isArray(output[key]) ? output[key][0] : null;
    if (!entry || typeof entry !== "object" || !spec.valid(entry)) continue;
    const { viewer, created } = viewerFor(node, spec);
    if (viewer.entry && JSON.stringify(viewer.entry) === JSON.stringify(entry)) continue; // already shown
    viewer.showEntry(entry);
    if (created) growNodeFor(node, viewer);
  }
}

// Notes wrap: the widget asks for a line per roughly 60 characters of each note at the node's usual width.
function noteLines(notes) {
  return notes.reduce((lines, note) => lines + Math.max(1, Math.ceil(String(note).length / 60)), 0);
}

function showNotes(node, notes) {
  if (!node?.graph || !Array.isArray(notes)) return;
  ensureStyle();
  let widget = node.widgets?.find((candidate) => candidate.name === NOTES_WIDGET);
  if (!widget) {
    if (!notes.length) return;
    const box = element("div", "reco-notes");
    widget = node.addDOMWidget(NOTES_WIDGET, "reco-notes", box, {
      serialize: false,
      hideOnZoom: false,
      getMinHeight: () => (widget.recoLines ? widget.recoLines * NOTE_LINE_HEIGHT + 6 : 0),
      getMaxHeight: () => (widget.recoLines ? widget.recoLines * NOTE_LINE_HEIGHT + 6 : 0),
    });
    widget.serialize = false;
    widget.recoBox = box;
  }
  widget.recoBox.replaceChildren(...notes.map((note) => element("p", "", { textContent: String(note) })));
  widget.recoBox.style.display = notes.length ? "" : "none";
  widget.recoLines = noteLines(notes);
  widget.recoNotes = [...notes];
  const wanted = node.computeSize();
  node.setSize([Math.max(node.size[0], wanted[0]), notes.length ? Math.max(node.size[1], wanted[1]) : wanted[1]]);
  node.setDirtyCanvas?.(true, true);
}

function carriesReCoResults(output) {
  return !!output && (COMPARE_KEY in output || REGION_KEY in output);
}

function carriesNotes(output) {
  return !!output && Array.isArray(output[NOTES_KEY]);
}

const EXTENSION_NAME = "reco.VideoViewers";

// A pack cloned under a folder name other than its project name is served twice (WEB_DIRECTORY under the folder
// name, pyproject's [tool.comfy] web under the project name), so this module may run twice: register once.
const alreadyRegistered = (app.extensions ?? []).some((extension) => extension.name === EXTENSION_NAME);

if (!alreadyRegistered) app.registerExtension({
  name: EXTENSION_NAME,

  async beforeRegisterNodeDef(nodeType) {
    // Any node may send these results (ReCo Decode and ReCo Sampler do): chain onExecuted, act on our keys only.
    const onExecuted = nodeType.prototype.onExecuted;
    nodeType.prototype.onExecuted = function (output) {
      const result = onExecuted?.apply(this, arguments);
      if (carriesNotes(output)) showNotes(this, output[NOTES_KEY]);
      if (carriesReCoResults(output)) showResults(this, output).catch((error) => console.warn("ReCo viewer:", error));
      return result;
    };
  },

  // Outputs restored by the front end (switching workflow tabs, loading a queue entry): show them again.
  onNodeOutputsUpdated(nodeOutputs) {
    if (!nodeOutputs || !app.graph) return;
    for (const node of app.graph.nodes ?? []) {
      const output = nodeOutputs[String(node.id)];
      if (carriesNotes(output)) showNotes(node, output[NOTES_KEY]);
      if (carriesReCoResults(output)) showResults(node, output).catch((error) => console.warn("ReCo viewer:", error));
    }
  },
});
