"""Decoding a sampled canvas: the whole [source | target] canvas then the target cropped (the authors' path, the
default) against the target half's latent alone (the faster option), on the shipped ReCo-Shapes VAE.

    python bench/decode_paths.py [--count 2] [--out results.json]

For held-out benchmark pairs the miniature samples a canvas with its own settings; both paths decode it. Reported:
PSNR between the two edits (whole clip, the 8 pixel columns next to the seam, the rest), how much the benchmark's
scores move, and the two decode times (interleaved medians, one run, one machine).
"""

from __future__ import annotations

import argparse
import math

from common import device_name, interleaved_medians, report

import torch

SEAM_COLUMNS = 8  # one latent column: what the decoder's convolutions reach across the seam first


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(((a - b) ** 2).mean())
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


def main() -> None:
    from reco_core import layout
    from reco_core.shapes.bench import benchmark_pairs, edit_options, shapes_pipeline
    from reco_core.shapes.metrics import score_pair

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=2, help="held-out pairs per task")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    pipe = shapes_pipeline()
    options = edit_options(decode="canvas")
    rows, whole_times, target_times = [], [], []
    for pair in benchmark_pairs(args.count):
        latent = pipe(pair.source, pair.instruction, options=options).canvas_latent
        target_latent = layout.split_latent(latent)[1]
        whole_time, target_time = interleaved_medians(lambda: pipe.decode_latents(latent),
                                                      lambda: pipe.decode_latents(target_latent), rounds=5, warmup=1)
        whole_times.append(whole_time)
        target_times.append(target_time)
        cropped = layout.split_canvas(pipe.decode_latents(latent))[1]
        alone = pipe.decode_latents(target_latent)
        scores = {name: score_pair(frames, pair) for name, frames in (("canvas", cropped), ("target", alone))}
        rows.append({"task": pair.task, "seed": pair.info["seed"], "psnr_db": psnr(cropped, alone),
                     "psnr_seam_db": psnr(cropped[:, :, :SEAM_COLUMNS], alone[:, :, :SEAM_COLUMNS]),
                     "psnr_rest_db": psnr(cropped[:, :, SEAM_COLUMNS:], alone[:, :, SEAM_COLUMNS:]),
                     "max_abs": float((cropped - alone).abs().max()),
                     "background_psnr": {k: v["background_psnr"] for k, v in scores.items()},
                     "edit_accuracy": {k: v["edit_accuracy"] for k, v in scores.items()}})
    background_moves = [abs(r["background_psnr"]["canvas"] - r["background_psnr"]["target"]) for r in rows
                        if r["background_psnr"]["canvas"] is not None]
    accuracy_moves = [abs(r["edit_accuracy"]["canvas"] - r["edit_accuracy"]["target"]) for r in rows]
    whole, target = sum(whole_times) / len(rows), sum(target_times) / len(rows)
    results = {"device": device_name(), "pairs": rows, "decode_canvas_s": whole, "decode_target_s": target,
               "target_over_canvas_time": target / whole}
    report(f"decode paths on the ReCo-Shapes VAE ({len(rows)} held-out pairs, {results['device']})", [
        ("PSNR canvas-crop vs target-only, whole edit", f"{min(r['psnr_db'] for r in rows):.1f} to "
                                                       f"{max(r['psnr_db'] for r in rows):.1f} dB"),
        (f"  the {SEAM_COLUMNS} columns next to the seam", f"{min(r['psnr_seam_db'] for r in rows):.1f} to "
                                                           f"{max(r['psnr_seam_db'] for r in rows):.1f} dB"),
        ("  the rest of the target half", f"{min(r['psnr_rest_db'] for r in rows):.1f} to "
                                         f"{max(r['psnr_rest_db'] for r in rows):.1f} dB"),
        ("largest pixel difference", f"{max(r['max_abs'] for r in rows) * 255:.1f} / 255"),
        ("benchmark background PSNR moves by", f"at most {max(background_moves):.3f} dB"),
        ("benchmark edit accuracy moves by", f"at most {max(accuracy_moves):.3f}"),
        ("decode whole canvas", f"{whole * 1000:.0f} ms"),
        ("decode target half", f"{target * 1000:.0f} ms"),
        ("target-only / canvas time", f"{results['target_over_canvas_time']:.2f}x"),
    ], results, args.out)


if __name__ == "__main__":
    main()
