"""Clips of any length: the window plan, the blend, the seam measure, the engine's window loop, the CLI and the
measurement on the shipped ReCo-Shapes model."""

import json

import pytest
import torch

from reco_core.engine.long_clip import edit_long_clip
from reco_core.engine.options import EditOptions
from reco_core.errors import CancelledError, ReCoInputError
from reco_core.region import RegionOptions
from reco_core.windows import (WindowPlan, blend_into, blend_weights, check_overlap, default_overlap, plan_windows,
                               seam_report, window_mask)

SMALL = EditOptions(width=32, height=32, steps=2, max_frames=9, fps=8)


# --- the plan ---------------------------------------------------------------------------------------------------
def starts(plan: WindowPlan):
    return [(w.start, w.end, w.shared) for w in plan.windows]


@pytest.mark.parametrize("frames,overlap,expected", [
    (65, 1, [(0, 17, 0), (16, 33, 1), (32, 49, 1), (48, 65, 1)]),
    (65, 5, [(0, 17, 0), (12, 29, 5), (24, 41, 5), (36, 53, 5), (48, 65, 5)]),
    (18, 5, [(0, 17, 0), (1, 18, 16)]),  # one frame more than a window: a second, nearly the same, window
    (17, 5, [(0, 17, 0)]), (3, 5, [(0, 3, 0)]), (1, 16, [(0, 1, 0)]),  # short clips: one window, padded later
])
def test_windows_for_known_clips(frames, overlap, expected):
    assert starts(plan_windows(frames, 17, overlap)) == expected


def test_every_plan_covers_every_frame_with_full_windows_that_keep_the_overlap():
    for length in (5, 9, 17, 81):
        for overlap in sorted({1, 2, default_overlap(length), length - 1}):
            for frames in range(1, 4 * length + 3):
                plan = plan_windows(frames, length, overlap)
                windows = plan.windows
                assert windows[0].start == 0 and windows[-1].end == frames
                if frames <= length:
                    assert len(windows) == 1
                    continue
                assert all(w.frames == length for w in windows), (length, overlap, frames)
                covered = 0
                for w in windows[1:]:
                    previous = windows[w.index - 1]
                    assert w.start > previous.start and previous.end - w.start >= overlap
                    covered = max(covered, previous.end)
                    assert w.shared == covered - w.start
                # the fewest windows: one less could not keep the overlap
                assert (len(windows) - 2) * (length - overlap) + length < frames


@pytest.mark.parametrize("overlap,fragment", [(0, "outside 1..16"), (17, "outside 1..16"), (-2, "outside 1..16"),
                                               (2.5, "not a whole number"), ("3", "not a whole number")])
def test_bad_overlaps_are_named(overlap, fragment):
    with pytest.raises(ReCoInputError) as error:
        plan_windows(40, 17, overlap)
    assert error.value.input_name == "overlap" and fragment in error.value.problem


def test_bad_lengths_and_empty_clips_are_named():
    with pytest.raises(ReCoInputError) as error:
        plan_windows(40, 16, 2, length_name="--frames")
    assert error.value.input_name == "--frames"
    with pytest.raises(ReCoInputError) as error:
        plan_windows(0, 17, 2)
    assert error.value.input_name == "source"
    with pytest.raises(ReCoInputError) as error:
        check_overlap(1, 1)
    assert error.value.input_name == "length"
    assert starts(plan_windows(1, 1)) == [(0, 1, 0)]


def test_default_overlap_is_five_or_half_a_window():
    assert [default_overlap(n) for n in (5, 9, 13, 17, 81)] == [2, 4, 5, 5, 5]
    assert plan_windows(65, 17).overlap == 5


def test_the_note_says_how_the_clip_was_windowed():
    note = plan_windows(65, 17, 5).note("--source")
    assert note == ("--source has 65 frames, more than the 17 sampled: edited in 5 windows of 17 frames (starting at "
                    "frames 0, 12, 24, 36, 48), neighbours sharing 5 frames, blended.")
    assert plan_windows(17, 17).note() is None


# --- the blend and the seams --------------------------------------------------------------------------------------
def test_blend_keeps_the_handed_frame_and_ramps_to_the_new_window():
    assert blend_weights(6, 3).tolist() == pytest.approx([0, 1 / 3, 2 / 3, 1, 1, 1])
    plan = plan_windows(8, 5, 2)
    assert starts(plan) == [(0, 5, 0), (3, 8, 2)]
    out = torch.zeros(8, 1)
    for window in plan.windows:
        blend_into(out, window, torch.full((window.frames, 1), float(window.index + 1)))
    assert out[:, 0].tolist() == pytest.approx([1, 1, 1, 1, 1.5, 2, 2, 2])


def test_seams_are_measured_where_windows_meet():
    plan = plan_windows(65, 17, 1)
    assert plan.seam_transitions() == [[16], [32], [48]]
    assert 16 not in plan.inner_transitions() and len(plan.inner_transitions()) == 64 - 3
    smooth = torch.linspace(0, 1, 65).reshape(65, 1, 1, 1).expand(65, 4, 4, 3)
    report = seam_report(smooth, plan)
    assert report["ratio"] == pytest.approx(1.0, abs=1e-3)
    jumpy = smooth.clone()
    jumpy[17:33] += 0.2  # the second window came out brighter
    report = seam_report(jumpy.clamp(0, 1), plan)
    assert report["seam"] > 5 * report["inner"] and report["per_seam"][0] > 40 and report["per_seam"][2] < 5


def test_a_mask_is_sliced_per_window():
    plan = plan_windows(13, 5, 1)
    mask = torch.arange(13.0).reshape(13, 1, 1)
    assert [window_mask(mask, w)[:, 0, 0].tolist() for w in plan.windows] == [[0, 1, 2, 3, 4], [4, 5, 6, 7, 8],
                                                                              [8, 9, 10, 11, 12]]
    still = torch.ones(1, 2, 2)
    assert window_mask(still, plan.windows[2]) is still


# --- the engine's loop, on the tiny random pipeline ----------------------------------------------------------------
class Spy:
    """The pipeline with every call recorded (its source, first frame and mask) and its results kept."""

    def __init__(self, pipe):
        self.pipe, self.calls = pipe, []

    def __getattr__(self, name):
        return getattr(self.pipe, name)

    def __call__(self, source, *args, **kwargs):
        result = self.pipe(source, *args, **kwargs)
        self.calls.append({"source": source, "first_frame": kwargs.get("first_frame"), "mask": kwargs.get("mask"),
                           "result": result})
        return result


@pytest.fixture(scope="module")
def clip():
    return torch.rand(23, 32, 32, 3, generator=torch.Generator().manual_seed(5))


def test_every_frame_comes_back_and_each_window_is_handed_the_edit_where_it_starts(pipe, prompt, clip):
    spy = Spy(pipe)
    result = edit_long_clip(spy, clip, prompt=prompt, options=SMALL, overlap=2)
    assert result.frames.shape == (23, 32, 32, 3) and result.source.shape == (23, 32, 32, 3)
    assert result.options.fps == 8
    assert starts(result.windows) == [(0, 9, 0), (7, 16, 2), (14, 23, 2)]
    assert [call["source"].shape[0] for call in spy.calls] == [9, 9, 9]  # memory: one window at a time
    assert spy.calls[0]["first_frame"] is None
    for call, window in zip(spy.calls[1:], result.windows.windows[1:]):
        assert torch.equal(call["first_frame"], result.frames[window.start])  # weight 0 there: kept as handed
        assert torch.equal(call["source"], clip[window.start:window.end])
    # the first window's own frames are a plain edit of its frames; the last window's are its edit
    plain = pipe(clip[:9], prompt=prompt, options=SMALL)
    assert torch.equal(result.frames[:7], plain.frames[:7])
    assert torch.equal(result.frames[16:], spy.calls[2]["result"].frames[2:])
    notes = result.notes("--source")
    assert "edited in 3 windows of 9 frames" in notes[0] and "first-frame mode" in notes[1]
    seams = seam_report(result.frames, result.windows)
    assert seams["seam"] is not None and seams["inner"] > 0


def test_independent_windows_hand_nothing_on(pipe, prompt, clip):
    spy = Spy(pipe)
    chained = edit_long_clip(pipe, clip, prompt=prompt, options=SMALL, overlap=2)
    alone = edit_long_clip(spy, clip, prompt=prompt, options=SMALL, overlap=2, mode="independent")
    assert all(call["first_frame"] is None for call in spy.calls)
    assert torch.equal(alone.frames[:7], chained.frames[:7])
    assert not torch.equal(alone.frames[9:], chained.frames[9:])


def test_a_short_clip_is_padded_and_trimmed_as_before(pipe, prompt, clip):
    result = edit_long_clip(pipe, clip[:4], prompt=prompt, options=SMALL)
    plain = pipe(clip[:4], prompt=prompt, options=SMALL)
    assert result.frames.shape[0] == 4 and torch.equal(result.frames, plain.frames)
    assert not result.windows.windowed
    assert any("padded with 5 copies of its last frame" in note for note in result.notes())


def test_first_mode_and_one_frame_windows_keep_the_old_behaviour(pipe, prompt, clip):
    first = edit_long_clip(pipe, clip, prompt=prompt, options=SMALL, mode="first")
    assert first.frames.shape[0] == 9 and any("the last 14 are left out" in note for note in first.notes())
    single = edit_long_clip(pipe, clip[:3], prompt=prompt, options=SMALL.updated(num_frames=1))
    assert single.frames.shape[0] == 1


def test_a_region_mask_is_sliced_per_window_and_the_region_covers_the_clip(pipe, prompt, clip):
    mask = torch.zeros(23, 32, 32)
    for t in range(23):  # a box that moves right one pixel per frame
        mask[t, 8:20, t:t + 8] = 1
    spy = Spy(pipe)
    result = edit_long_clip(spy, clip, prompt=prompt, options=SMALL, overlap=2, region=RegionOptions(mode="mask"),
                            mask=mask)
    for call, window in zip(spy.calls, result.windows.windows):
        assert torch.equal(call["mask"], mask[window.start:window.end])
    assert result.region.shape == (23, 32, 32)
    assert bool((result.region[mask > 0.5] > 0.5).all()) and result.region.mean() < 0.9
    auto = edit_long_clip(pipe, clip, prompt=prompt, options=SMALL, overlap=2, region=RegionOptions(mode="auto"))
    assert auto.region.shape == (23, 32, 32)
    assert all(auto.region[w.start:w.end].sum() > 0 for w in auto.windows.windows)


def test_progress_runs_over_every_window_and_cancel_stops_within_a_window(pipe, prompt, clip):
    seen, windows = [], []
    edit_long_clip(pipe, clip, prompt=prompt, options=SMALL, overlap=2, progress=lambda at: seen.append(
        (at.window.index, at.done, at.total)), on_window=lambda window, count: windows.append((window.index, count)))
    assert windows == [(0, 3), (1, 3), (2, 3)]
    assert [done for _, done, _ in seen] == list(range(1, 7)) and {total for _, _, total in seen} == {6}
    spy, calls = Spy(pipe), []

    def cancel():
        calls.append(1)
        return len(calls) > 3  # checks: before window 1, its 2 steps, before window 2 -> stops there
    with pytest.raises(CancelledError):
        edit_long_clip(spy, clip, prompt=prompt, options=SMALL, overlap=2, cancel=cancel)
    assert len(spy.calls) == 1
    calls.clear()
    with pytest.raises(CancelledError, match="before step 2"):
        edit_long_clip(pipe, clip, prompt=prompt, options=SMALL, overlap=2, cancel=lambda: calls.append(1) or
                       len(calls) > 2)


def test_bad_window_settings_fail_before_any_work(pipe, prompt, clip):
    spy = Spy(pipe)
    with pytest.raises(ReCoInputError, match="overlap"):
        edit_long_clip(spy, clip, prompt=prompt, options=SMALL, overlap=9)
    with pytest.raises(ReCoInputError, match="windows"):
        edit_long_clip(spy, clip, prompt=prompt, options=SMALL, mode="sliding")
    assert not spy.calls


# --- the command line, on the shipped miniature --------------------------------------------------------------------
def test_cli_edits_every_frame_at_the_source_fps_in_windows(tmp_path, capsys):
    from reco_core.cli import main
    from reco_core.video import probe_video, write_video

    source = torch.rand(21, 128, 128, 3, generator=torch.Generator().manual_seed(2))
    write_video(tmp_path / "long.mp4", source, fps=10)
    out = tmp_path / "edit.mp4"
    assert main(["edit", "--model", "shapes", "--source", str(tmp_path / "long.mp4"), "--instruction",
                 "remove the red circle", "--out", str(out), "--steps", "1", "--window-overlap", "3"]) == 0
    info = probe_video(out)
    assert info.num_frames == 21 and info.fps == pytest.approx(10, rel=1e-3)
    err = capsys.readouterr().err
    assert "edited in 2 windows of 17 frames (starting at frames 0, 4)" in err
    assert "editing window 2 of 2 (frames 4 to 20)" in err
    first = tmp_path / "first.mp4"
    assert main(["edit", "--model", "shapes", "--source", str(tmp_path / "long.mp4"), "--instruction",
                 "remove the red circle", "--out", str(first), "--steps", "1", "--windows", "first"]) == 0
    assert probe_video(first).num_frames == 17 and "the last 4 are left out" in capsys.readouterr().err
    assert main(["edit", "--model", "shapes", "--source", str(tmp_path / "long.mp4"), "--instruction",
                 "remove the red circle", "--out", str(tmp_path / "bad.mp4"), "--window-overlap", "17"]) == 2
    assert "--window-overlap: 17 is outside 1..16" in capsys.readouterr().err


# --- the measurement, on the shipped miniature ---------------------------------------------------------------------
def test_the_measurement_scores_windows_and_seams(tmp_path):
    from shapes_lab.long_clips import run

    report = run(tmp_path, count=1, overlap=3, tasks=("remove",), frames=21, steps=1, reach=True,
                 echo=lambda text: None)
    (row,) = report["pairs"]
    assert row["windows"] == [[0, 17], [4, 21]]
    reach = row["first_frame_reach"]
    assert reach["first"] > 0 and set(reach) == {"first", "next_four", "last", "edit_accuracy_without",
                                                 "edit_accuracy_with_truth"}
    for mode in ("chain", "independent"):
        scores = row["modes"][mode]
        assert len(scores["edit_accuracy_per_window"]) == 2 and scores["background_psnr"] > 10
        assert scores["seams"]["seam"] > 0 and scores["seams"]["inner"] > 0
    summary = json.loads((tmp_path / "long_clips.json").read_text())["summary"]["remove"]
    assert set(summary) >= {"chain", "independent", "truth_seam", "truth_inner"}
    assert (tmp_path / f"remove_{row['seed']}_seams.png").is_file()
