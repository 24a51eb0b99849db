"""Engine overhead: the pipeline's time per sampling step against bare transformer forwards of the same
canvas, and decoding only the target half against decoding the whole canvas.

    python bench/pipeline_overhead.py [--tokens small|medium] [--out results.json]

Targets (issue: reco_core's engine): per-step overhead at most 1.05x; decode-only-target about 0.5x.
Random weights at a mid size stand in for the real model (no download); on a GPU pass --size 1.3b to
time the real Wan2.1-VACE-1.3B architecture at 480x832 per half.
"""

from __future__ import annotations

import argparse

from common import device_name, interleaved_medians, median_seconds, report

import torch

SIZES = {
    # name: (transformer config overrides, per-half width, height, frames)
    "small": (dict(num_attention_heads=2, attention_head_dim=64, ffn_dim=512, num_layers=4, vace_layers=[0, 2],
                   text_dim=256, freq_dim=256), 64, 64, 9),
    "1.3b": (None, 832, 480, 81),
}


def build(size: str, device: str, dtype: torch.dtype):
    from diffusers import AutoencoderKLWan, WanVACETransformer3DModel

    from reco_core.engine.pipeline import ReCoPipeline
    from reco_core.models.configs import load_shipped_config
    from reco_core.models.tiny import tiny_vae_config

    overrides, width, height, frames = SIZES[size]
    torch.manual_seed(0)
    if overrides is None:
        config = {k: v for k, v in load_shipped_config("wan2.1-vace-1.3b").items() if not k.startswith("_")}
        vae_config = {k: v for k, v in load_shipped_config("wan2.1-vae").items() if not k.startswith("_")}
    else:
        config = dict(in_channels=16, out_channels=16, vace_in_channels=96, **overrides)
        vae_config = tiny_vae_config()
    transformer = WanVACETransformer3DModel(**config).to(device, dtype).eval()
    vae = AutoencoderKLWan(**vae_config).to(device).eval()
    return ReCoPipeline(transformer, vae, device=device), width, height, frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=list(SIZES), default="small")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    pipe, width, height, frames = build(args.size, device, dtype)
    from reco_core.engine.pipeline import Prompt

    text_dim = pipe.transformer.config.text_dim
    prompt = Prompt(torch.randn(1, 16, text_dim), torch.randn(1, 16, text_dim))
    source = torch.rand(frames, height, width, 3)

    # 1. Pipeline steps: time two runs that differ only in the number of steps; the difference is the
    #    cost of the extra steps alone (encoding and decoding cancel out).
    def edit(steps):
        return lambda: pipe(source, prompt=prompt, width=width, height=height, num_frames=frames, steps=steps)

    few_time, many_time = interleaved_medians(edit(1), edit(1 + args.steps), rounds=3, warmup=1)
    per_step = (many_time - few_time) / args.steps

    # 2. The bare model: the two guided forwards of one step on the same canvas.
    control, _ = pipe.vace_conditioning(pipe.prepare_source(source, pipe_options(width, height, frames)), None,
                                        pipe_options(width, height, frames))
    latent = torch.randn(1, 16, control.shape[2], control.shape[3], control.shape[4], device=device, dtype=dtype)
    text = torch.nn.functional.pad(prompt.positive, (0, 0, 0, 512 - 16)).to(device, dtype)
    control = control.to(device, dtype)
    timestep = torch.tensor([500.0], device=device)

    def bare():
        with torch.no_grad():
            for _ in range(2):
                pipe.transformer(hidden_states=latent, timestep=timestep, encoder_hidden_states=text,
                                 control_hidden_states=control, return_dict=False)

    bare_step = median_seconds(bare, repeats=5)

    # 3. Decoding only the target half against the whole canvas.
    full_latent = torch.randn(1, 16, control.shape[2], control.shape[3], control.shape[4])
    half_latent = full_latent[..., : control.shape[4] // 2]
    decode_half, decode_full = interleaved_medians(lambda: pipe.decode_latents(half_latent),
                                                   lambda: pipe.decode_latents(full_latent), rounds=3, warmup=1)

    tokens = control.shape[2] * control.shape[3] * control.shape[4] // 4
    results = {"device": device_name(), "size": args.size, "canvas_tokens": tokens,
               "pipeline_step_s": per_step, "bare_step_s": bare_step, "step_overhead_ratio": per_step / bare_step,
               "decode_target_s": decode_half, "decode_canvas_s": decode_full,
               "decode_ratio": decode_half / decode_full}
    report(f"pipeline overhead ({args.size}, {tokens} canvas tokens, {results['device']})", [
        ("pipeline step (2 guided forwards + scheduler)", f"{per_step * 1000:.1f} ms"),
        ("bare transformer, 2 forwards", f"{bare_step * 1000:.1f} ms"),
        ("step overhead ratio (target <= 1.05)", f"{results['step_overhead_ratio']:.3f}x"),
        ("decode target half", f"{decode_half * 1000:.1f} ms"),
        ("decode whole canvas", f"{decode_full * 1000:.1f} ms"),
        ("decode-only-target ratio", f"{results['decode_ratio']:.3f}x"),
    ], results, args.out)


def pipe_options(width, height, frames):
    from reco_core.engine.options import EditOptions

    return EditOptions(width=width, height=height, num_frames=frames).validate()


if __name__ == "__main__":
    main()
