"""Per-step cost of region-constrained sampling (auto region, background lock, attention constraint on
every layer) against plain sampling of the same canvas.

    python bench/region_sampling.py [--size small|1.3b] [--out results.json]

Target: at most 1.15x. The difference of two runs with different step counts isolates the per-step
cost (encoding and decoding cancel out).
"""

from __future__ import annotations

import argparse

from common import device_name, interleaved_medians, report
from pipeline_overhead import SIZES, build

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=list(SIZES), default="small")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    from reco_core.engine.pipeline import Prompt
    from reco_core.region import RegionOptions

    device = "cuda" if torch.cuda.is_available() else "cpu"
    pipe, width, height, frames = build(args.size, device, torch.bfloat16 if device == "cuda" else torch.float32)
    text_dim = pipe.transformer.config.text_dim
    prompt = Prompt(torch.randn(1, 16, text_dim), torch.randn(1, 16, text_dim))
    source = torch.rand(frames, height, width, 3)
    auto = RegionOptions(mode="auto", detect_at=0.01, attention="region", background=0.8)

    def run(steps, region):
        return lambda: pipe(source, prompt=prompt, width=width, height=height, num_frames=frames, steps=steps,
                            region=region)

    off_few, auto_few = interleaved_medians(run(1, None), run(1, auto), rounds=3, warmup=1)
    off_many, auto_many = interleaved_medians(run(1 + args.steps, None), run(1 + args.steps, auto), rounds=3, warmup=0)
    off_step, auto_step = (off_many - off_few) / args.steps, (auto_many - auto_few) / args.steps
    tokens = ((frames - 1) // 4 + 1) * (height // 16) * (2 * width // 16)
    results = {"device": device_name(), "size": args.size, "canvas_tokens": tokens, "off_step_s": off_step,
               "auto_step_s": auto_step, "ratio": auto_step / off_step}
    report(f"region-constrained sampling ({args.size}, {tokens} canvas tokens, {results['device']})", [
        ("step, region off", f"{off_step * 1000:.1f} ms"),
        ("step, region auto (lock + attention on all layers)", f"{auto_step * 1000:.1f} ms"),
        ("ratio (target <= 1.15)", f"{results['ratio']:.3f}x"),
    ], results, args.out)


if __name__ == "__main__":
    main()
