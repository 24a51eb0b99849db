"""Write tiny random Wan2.1 weights that ComfyUI's core loaders detect, for integration tests.

Run with the Python that runs ComfyUI (it imports `comfy` to get the exact module layouts):

    <comfy-python> tests/comfyui/make_tiny_weights.py --comfyui <ComfyUI dir> --models <models dir> [--seed 0]

Writes, under <models dir> (all random, deterministic for a given seed):
    diffusion_models/reco_tiny_wan21_vace.safetensors  Wan2.1-VACE DiT: dim 128, 1 head, ffn 256, 2 layers,
                                                       2 VACE layers, vace_in_dim 96, text_dim 4096 (fp32)
    diffusion_models/reco_tiny_wan21_t2v.safetensors   plain Wan2.1 T2V DiT with the same sizes (fp32)
    vae/reco_random_wan21_vae.safetensors              Wan2.1 VAE, real architecture (core hard-codes it), bf16
    loras/reco_tiny_wan21_lora.safetensors             rank-4 LoRA on blocks.*.self_attn.{q,k,v,o} of the tiny
                                                       DiT, keys `diffusion_model.<module>.lora_A/B.weight`
and prints a JSON manifest {"name": {"folder": ..., "file": ..., "path": ..., "params": ...}} on stdout.
"""
import argparse
import json
import os
import sys

DIT = dict(dim=128, ffn_dim=256, num_heads=1, num_layers=2, in_dim=16, out_dim=16, text_dim=4096, freq_dim=256)
VACE = dict(vace_layers=2, vace_in_dim=96)
VAE = dict(dim=96, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=2, attn_scales=[],
           temperal_downsample=[False, True, True], dropout=0.0)
LORA_RANK = 4


def import_comfy(comfy_dir):
    sys.path.insert(0, comfy_dir)
    sys.argv = sys.argv[:1] + ["--cpu"]
    import comfy.options
    comfy.options.enable_args_parsing()  # else cli_args ignores argv and model_management asks for CUDA
    import comfy.ops
    import comfy.ldm.wan.model
    import comfy.ldm.wan.vae
    return comfy


def random_state_dict(shapes, generator, dtype, torch):
    """shapes: {key: (shape, dtype)} -> deterministic tensors (sorted key order).

    Norm scales (`*.gamma`, `*norm*.weight`) = 1; other tensors with ndim > 1 ~ N(0, 0.02); biases = 0.
    """
    out = {}
    for key in sorted(shapes):
        shape, src_dtype = shapes[key]
        leaf = key.rsplit(".", 2)
        is_norm_scale = leaf[-1] == "gamma" or (leaf[-1] == "weight" and "norm" in leaf[-2])
        if not src_dtype.is_floating_point:
            out[key] = torch.zeros(shape, dtype=src_dtype)
        elif is_norm_scale:
            out[key] = torch.ones(shape, dtype=dtype)
        elif len(shape) > 1:
            out[key] = (torch.randn(shape, generator=generator) * 0.02).to(dtype)
        else:
            out[key] = torch.zeros(shape, dtype=dtype)
    return out


def meta_shapes(module):
    return {k: (tuple(v.shape), v.dtype) for k, v in module.state_dict().items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--comfyui", required=True, help="ComfyUI directory (holds main.py)")
    ap.add_argument("--models", required=True, help="models directory to write into")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-vae", action="store_true", help="do not write the 254 MB VAE")
    opts = ap.parse_args()

    comfy = import_comfy(os.path.abspath(opts.comfyui))
    import torch
    from safetensors.torch import save_file

    ops = comfy.ops.disable_weight_init
    manifest = {}

    def write(name, folder, filename, sd):
        os.makedirs(os.path.join(opts.models, folder), exist_ok=True)
        path = os.path.join(opts.models, folder, filename)
        tmp = path + ".tmp"
        save_file({k: v.contiguous() for k, v in sd.items()}, tmp, metadata={"reco_test_seed": str(opts.seed)})
        os.replace(tmp, path)
        manifest[name] = {"folder": folder, "file": filename, "path": path,
                          "params": int(sum(v.numel() for v in sd.values()))}

    gen = torch.Generator().manual_seed(opts.seed)
    vace = comfy.ldm.wan.model.VaceWanModel(model_type="vace", **DIT, **VACE, device="meta", operations=ops)
    vace_sd = random_state_dict(meta_shapes(vace), gen, torch.float32, torch)
    write("vace", "diffusion_models", "reco_tiny_wan21_vace.safetensors", vace_sd)

    gen = torch.Generator().manual_seed(opts.seed + 1)
    t2v = comfy.ldm.wan.model.WanModel(model_type="t2v", **DIT, device="meta", operations=ops)
    write("t2v", "diffusion_models", "reco_tiny_wan21_t2v.safetensors",
          random_state_dict(meta_shapes(t2v), gen, torch.float32, torch))

    gen = torch.Generator().manual_seed(opts.seed + 2)
    lora = {}
    dim = DIT["dim"]
    for i in range(DIT["num_layers"]):
        for proj in ("q", "k", "v", "o"):
            key = f"diffusion_model.blocks.{i}.self_attn.{proj}"
            lora[f"{key}.lora_A.weight"] = torch.randn(LORA_RANK, dim, generator=gen) * 0.1
            lora[f"{key}.lora_B.weight"] = torch.randn(dim, LORA_RANK, generator=gen) * 0.1
    write("lora", "loras", "reco_tiny_wan21_lora.safetensors", lora)

    if not opts.skip_vae:
        gen = torch.Generator().manual_seed(opts.seed + 3)
        with torch.device("meta"):
            vae = comfy.ldm.wan.vae.WanVAE(**VAE)
        write("vae", "vae", "reco_random_wan21_vae.safetensors",
              random_state_dict(meta_shapes(vae), gen, torch.bfloat16, torch))

    json.dump(manifest, sys.stdout, indent=1)
    print()


if __name__ == "__main__":
    main()
