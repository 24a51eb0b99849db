"""Cost of ReCo's region losses in training: one step with both constraints (masked MSE, L_latent,
L_attn on every self-attention layer) against a plain flow-matching step, on the tiny model.

    python bench/training_step.py [--out results.json]

Target: at most 1.25x.
"""

from __future__ import annotations

import argparse
import tempfile

from common import device_name, interleaved_medians, report

import torch


def trainer_for(loss: dict, out_dir: str):
    from reco_core.models.tiny import build_tiny_text_encoder, build_tiny_transformer, build_tiny_vae
    from reco_core.shapes.tasks import instruction_vocabulary
    from reco_core.bundled import trainer as bundled_trainer
    from reco_core.train import Models, config_from_dict

    config = config_from_dict({
        "model": {"transformer": "tiny", "dtype": "fp32", "gradient_checkpointing": False},
        "lora": {"rank": 16, "alpha": 16},
        "data": {"generate_shapes": 4, "width": 64, "height": 64, "frames": 9, "fps": 8, "style_tasks": []},
        "loss": loss,
        "optim": {"steps": 1, "mixed_precision": "no"},
        "output": {"save_every": 0, "sample_every": 0},
    })
    models = Models(build_tiny_transformer(0, num_attention_heads=4, attention_head_dim=32, ffn_dim=256,
                                           num_layers=4, vace_layers=[0, 2]),
                    build_tiny_vae(0), build_tiny_text_encoder(0, vocabulary=instruction_vocabulary()))
    trainer = bundled_trainer(config, out_dir, models=models)
    trainer.prepare()
    return trainer


def one_step(trainer):
    """A function running one forward + backward of `trainer`'s loss on the same batch."""
    from reco_core.engine.region_attention import region_attention, select_layers

    model = trainer.model
    batch = trainer.load_batch([0], torch.Generator().manual_seed(0), trainer.accelerator.device)
    layers = select_layers(model, trainer.config.loss.attn_layers)

    def step():
        with region_attention(model, trainer.attention_state, layers):
            terms = trainer.compute_loss(model, batch, torch.Generator().manual_seed(1))
            terms["loss"].backward()
        trainer.optimizer.zero_grad()

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        plain_step = one_step(trainer_for({"masked_mse": False, "latent_weight": 0.0, "attn_weight": 0.0}, folder + "/a"))
        full_step = one_step(trainer_for({"masked_mse": True, "latent_weight": 1e-3, "attn_weight": 1e-3}, folder + "/b"))
        plain, full = interleaved_medians(plain_step, full_step)
    results = {"device": device_name(), "plain_step_s": plain, "reco_step_s": full, "ratio": full / plain}
    report(f"training step, tiny model ({results['device']})", [
        ("flow matching only", f"{plain * 1000:.1f} ms"),
        ("with masked MSE + L_latent + L_attn (all layers)", f"{full * 1000:.1f} ms"),
        ("ratio (target <= 1.25)", f"{results['ratio']:.3f}x"),
    ], results, args.out)


if __name__ == "__main__":
    main()
