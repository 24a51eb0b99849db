"""The pack's locales, example workflows and node help pages as ComfyUI serves them (skipped while absent)."""
import json
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKFLOW_FOLDERS = ["example_workflows", "example", "examples", "workflow", "workflows"]  # app/custom_node_manager.py


def test_locales_reach_i18n(comfy):
    lang_dirs = sorted(p for p in (REPO_ROOT / "locales").glob("*") if p.is_dir() and any(p.glob("*.json")))
    if not lang_dirs:
        pytest.skip("the pack has no locales/<lang>/*.json yet")
    i18n = comfy.get_json("/i18n")
    for lang_dir in lang_dirs:
        main = json.loads((lang_dir / "main.json").read_text(encoding="utf-8")) if (lang_dir / "main.json").exists() else {}
        for extra in ("nodeDefs", "commands", "settings"):
            if (lang_dir / f"{extra}.json").exists():
                main[extra] = json.loads((lang_dir / f"{extra}.json").read_text(encoding="utf-8"))
        served = i18n.get(lang_dir.name, {})
        for key, value in main.items():
            assert key in served, f"{lang_dir.name}: {key} missing from /i18n"
            if isinstance(value, dict):
                assert set(value) <= set(served[key]), f"{lang_dir.name}.{key}: entries missing from /i18n"


def test_example_workflows_are_listed(comfy, comfyui_server):
    names = sorted({p.stem for folder in WORKFLOW_FOLDERS for p in (REPO_ROOT / folder).glob("*.json")})
    if not names:
        pytest.skip("the pack has no example workflows yet")
    listing = comfy.get_json("/workflow_templates")
    assert sorted(listing.get(comfyui_server.pack_link.name, [])) == names
    if comfyui_server.pack_import_failed():
        return  # the /api/workflow_templates/<pack>/ route exists only for packs that imported
    for name in names:
        status, body = comfy.request("GET", f"/api/workflow_templates/{comfyui_server.pack_link.name}/{name}.json")
        assert status == 200, name


def test_node_help_pages_are_served(comfy, comfyui_server):
    docs = REPO_ROOT / "web" / "docs"
    pages = sorted(p.relative_to(docs).as_posix() for p in docs.rglob("*.md")) if docs.is_dir() else []
    if not pages:
        pytest.skip("the pack has no web/docs/*.md yet")
    if comfyui_server.pack_import_failed():
        pytest.skip("the pack does not import yet, so its web directory is not registered")
    for page in pages:
        # The frontend asks /extensions/<folder>/docs/<NodeId>/<locale>.md, then /extensions/<folder>/docs/<NodeId>.md
        status, _ = comfy.request("GET", f"/extensions/{comfyui_server.pack_link.name}/docs/{page}")
        assert status == 200, f"web/docs/{page} is not served at /extensions/{comfyui_server.pack_link.name}/docs/"
        node_id = page.split("/")[0].removesuffix(".md")
        info = comfy.object_info(node_id)
        assert info is not None, f"web/docs/{page}: no node {node_id}"
        assert info["python_module"] == comfyui_server.pack_module
