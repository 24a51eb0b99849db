"""How the ReCo-Shapes VAE starts: a small AutoencoderKLWan that already is a (crude) video codec.

Trained from a random start this small VAE learns slowly and badly, for two reasons that are fixed
here, before its first step:

1. **Colour.** Every block of the Wan VAE reads RMS-normalised features (each pixel's feature vector
   is scaled to unit length), and the encoder and decoder end on such a norm. Random convs shrink
   the signal at every layer, so at a random start a flat colour change of 0.08 moves the latent
   by 0.002 (its spread is 0.15): the VAE is colour blind, and 2900 training steps did not cure it
   (the previous shipped VAE decoded every background with blue at 0.37, 24-26 dB).
   `start_as_colour_codec` makes the VAE an 8x8 block-average colour codec: every resampler
   averages or repeats, every shortcut passes its channels through, latent channels 0-2 carry the
   block's colour, and a constant channel makes every norm keep magnitude (a vector [c, x] with
   c >> |x| normalises to about [1, x / c], linear in x). Residual branches start at zero, so
   training only has to add detail. It reconstructs 22.6 dB before any step and 29.6 dB after
   1000 image steps, where the random start reached 23.2 dB.
2. **Time.** `start_as_frame_codec` makes it per-frame in time (see there).
"""

from __future__ import annotations

import math

import torch

from reco_core.models.configs import load_shipped_config
from reco_core.models.tiny import seeded

#: Wan2.1's VAE layout (8x spatial, 4x temporal, z 16, dim_mult 1-2-4-4) at base width 16 with one
#: residual block per level: about 2.6 M parameters.
VAE_OVERRIDES = {"base_dim": 16, "num_res_blocks": 1}
#: Initial log-variance of the posterior. At 0 (the default init) sampled latents are mostly noise
#: and the decoder learns slowly; starting near a deterministic autoencoder fixes that.
INITIAL_LOG_VARIANCE = -6.0
#: Colour features are held at colour + offset, where SiLU is monotonic and nearly linear.
ENCODER_COLOUR_OFFSET = 2.0
DECODER_COLOUR_OFFSET = 1.0
#: The random features beside the colour path start this much smaller than PyTorch's default init.
FEATURE_SCALE = 0.1
COLOUR = 3  # RGB channels: features 0-2 carry colour, feature 3 the constant


def shapes_vae_config() -> dict:
    """The diffusers config of the miniature's VAE, with the real Wan2.1 latent statistics."""
    config = {k: v for k, v in load_shipped_config("wan2.1-vae").items() if not k.startswith("_")}
    config.update(VAE_OVERRIDES)
    return config


def build_vae(seed: int = 0):
    """A seeded, untrained AutoencoderKLWan of the miniature's size, started as a colour and frame codec.

    Residual branches and attention projections start at zero (every block begins as the identity),
    and the posterior starts nearly deterministic.
    """
    from diffusers import AutoencoderKLWan
    from diffusers.models.autoencoders.autoencoder_kl_wan import WanAttentionBlock, WanResidualBlock

    with seeded(seed):
        vae = AutoencoderKLWan(**shapes_vae_config())
    with torch.no_grad():
        for module in vae.modules():
            last = module.conv2 if isinstance(module, WanResidualBlock) else \
                module.proj if isinstance(module, WanAttentionBlock) else None
            if last is not None:
                last.weight.zero_()
                last.bias.zero_()
        vae.quant_conv.bias[vae.config.z_dim :] = INITIAL_LOG_VARIANCE
    start_as_frame_codec(vae)
    start_as_colour_codec(vae)
    return vae


@torch.no_grad()
def start_as_frame_codec(vae) -> None:
    """Make the VAE begin as a per-frame image codec that holds each latent frame for its four frames.

    - Every causal 3D conv sees only the current frame (the kernel slices over past frames are zero).
      Single-frame training never updates those slices (they only ever meet the causal zero padding),
      so left at random they would smear noise from past frames into every clip.
    - The encoder's temporal downsamplers keep the newest frame of each window, the decoder's temporal
      upsamplers repeat each frame twice.

    Clip training then only has to learn motion; from a random start this small VAE, trained on
    clips for a few hundred steps, loses moving shapes after a few frames.
    """
    from diffusers.models.autoencoders.autoencoder_kl_wan import WanCausalConv3d, WanResample

    for module in vae.modules():
        if isinstance(module, WanCausalConv3d) and module.kernel_size[0] > 1:
            module.weight[:, :, :-1] = 0
    for module in vae.modules():
        if isinstance(module, WanResample) and module.mode in ("downsample3d", "upsample3d"):
            conv = module.time_conv
            channels = conv.in_channels
            conv.weight.zero_()
            conv.bias.zero_()
            for group in range(conv.out_channels // channels):
                conv.weight[group * channels : (group + 1) * channels, :, -1, 0, 0] = torch.eye(channels)


def _set_tap(conv: torch.nn.Module, out_channel: int, in_channel: int, value: float = 1.0) -> None:
    """Weight of the spatial centre (and, for a causal 3D conv, the current frame) of one channel pair."""
    weight = conv.weight
    if weight.ndim == 5:
        weight[out_channel, in_channel, -1, weight.shape[3] // 2, weight.shape[4] // 2] = value
    else:
        weight[out_channel, in_channel, weight.shape[2] // 2, weight.shape[3] // 2] = value


def _passes_through(conv: torch.nn.Module, channels: int, value: float = 1.0) -> None:
    conv.weight.zero_()
    conv.bias.zero_()
    for channel in range(channels):
        _set_tap(conv, channel, channel, value)


def _silu(x: float) -> float:
    return x / (1 + math.exp(-x))


def _silu_slope(x: float) -> float:
    s = 1 / (1 + math.exp(-x))
    return s + x * s * (1 - s)


def _small_current_frame_features(conv: torch.nn.Module) -> None:
    conv.weight.mul_(FEATURE_SCALE)
    if conv.weight.ndim == 5:
        conv.weight[:, :, :-1] = 0


@torch.no_grad()
def start_as_colour_codec(vae) -> None:
    """Make the VAE begin as an 8x8 block-average colour codec whose norms keep magnitude (module doc)."""
    from diffusers.models.autoencoders.autoencoder_kl_wan import WanCausalConv3d, WanResample, WanResidualBlock

    z_dim = vae.config.z_dim
    # 1. Resamplers average (down) or repeat (up); shortcuts pass their channels through.
    for module in vae.modules():
        if isinstance(module, WanResample) and module.mode.startswith("downsample"):
            conv = module.resample[1]  # after a (0, 1, 0, 1) zero pad, stride 2: the window starts at 2i
            conv.weight.zero_()
            conv.bias.zero_()
            for channel in range(conv.out_channels):
                conv.weight[channel, channel, 0:2, 0:2] = 0.25
        elif isinstance(module, WanResample) and module.mode.startswith("upsample"):
            _passes_through(module.resample[1], module.resample[1].out_channels)
        elif isinstance(module, WanResidualBlock) and isinstance(module.conv_shortcut, WanCausalConv3d):
            shortcut = module.conv_shortcut
            _passes_through(shortcut, min(shortcut.in_channels, shortcut.out_channels))
    # 2. Encoder: colour + offset in features 0-2, a constant in feature 3 sized so the final norm
    #    (sqrt(C) x unit length) leaves the colour at scale 1; small random features beside them.
    encoder = vae.encoder
    offset = ENCODER_COLOUR_OFFSET
    conv = encoder.conv_in
    _small_current_frame_features(conv)
    conv.weight[: COLOUR + 1] = 0
    conv.bias.zero_()
    for channel in range(COLOUR):
        _set_tap(conv, channel, channel)
        conv.bias[channel] = offset
    conv.bias[COLOUR] = math.sqrt(max(encoder.conv_out.in_channels - COLOUR * offset ** 2, 1.0))
    # 3. Latent means 0-2 = SiLU(colour + offset) - SiLU(offset); the others read the random features.
    conv = encoder.conv_out
    _small_current_frame_features(conv)
    conv.weight[:COLOUR] = 0
    conv.weight[:, : COLOUR + 1] = 0
    conv.weight[z_dim:] = 0  # log-variance: the constant of quant_conv
    conv.bias.zero_()
    for channel in range(COLOUR):
        _set_tap(conv, channel, channel)
        conv.bias[channel] = -_silu(offset)
    log_variance = vae.quant_conv.bias[z_dim:].clone()
    _passes_through(vae.quant_conv, 2 * z_dim)
    vae.quant_conv.bias[z_dim:] = log_variance
    _passes_through(vae.post_quant_conv, z_dim)
    # 4. Decoder: the same colour path in reverse, ending on colour = (SiLU(z + offset) - SiLU(offset)) / slope.
    decoder = vae.decoder
    offset = DECODER_COLOUR_OFFSET
    conv = decoder.conv_in
    _small_current_frame_features(conv)
    conv.weight[: COLOUR + 1] = 0
    conv.weight[:, :COLOUR] = 0
    conv.bias.zero_()
    for channel in range(COLOUR):
        _set_tap(conv, channel, channel)
        conv.bias[channel] = offset
    conv.bias[COLOUR] = math.sqrt(max(decoder.conv_out.in_channels - COLOUR * offset ** 2, 1.0))
    slope = _silu_slope(offset)
    _passes_through(decoder.conv_out, COLOUR, 1 / slope)
    decoder.conv_out.bias[:COLOUR] = -_silu(offset) / slope
