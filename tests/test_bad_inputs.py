"""The command-line and Python rows of the bad-input table (tests/bad_inputs.py) get exactly their message, and
docs/bad-inputs.md is the table's rendering."""

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bad_inputs import CASES, DOC, make_workspace, matches, render, run_cli, run_python  # noqa: E402

ROWS = [case for case in CASES if case.kind in ("cli", "python")]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    return make_workspace(tmp_path_factory.mktemp("bad_inputs"))


@pytest.mark.parametrize("case", ROWS, ids=[case.id for case in ROWS])
def test_bad_input_gets_the_tables_message(workspace, case):
    if case.needs == "no-cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    if case.kind == "python":
        message = run_python(case, workspace)
    else:
        outputs = [workspace.root / "edit.mp4", workspace.root / "x.safetensors", workspace.root / "runs" / "new"]
        existed = [path.exists() for path in outputs]
        code, message = run_cli(case, workspace)
        assert code == (0 if case.warning else 2), message
        assert [path.exists() for path in outputs] == existed, "nothing is written for a refused input"
    assert matches(case.message, message), f"{case.id}:\n  table:  {case.message}\n  actual: {message}"


def test_every_row_has_a_message_and_a_unique_id():
    assert len({case.id for case in CASES}) == len(CASES)
    for case in CASES:
        assert case.message and case.message != "?", case.id
        assert (case.kind == "cli") == bool(case.args) and (case.kind == "python") == (case.call is not None)


def test_the_document_is_the_rendering_of_the_table():
    assert DOC.read_text() == render(), "run: PYTHONPATH=. python tests/bad_inputs.py"
