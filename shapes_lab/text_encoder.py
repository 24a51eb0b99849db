"""The ReCo-Shapes text encoder: a frozen UMT5 over the world's instruction words.

The encoder is a seeded random UMT5 as wide as UMT5-XXL (d_model 4096, Wan's text width) with a
word-level tokenizer whose vocabulary is every instruction word (`tasks.instruction_vocabulary`).
"""

from __future__ import annotations

import torch

from reco_core.models.text import TextEncoder, make_word_tokenizer
from reco_core.models.tiny import seeded
from reco_core.shapes.tasks import instruction_vocabulary

# ----------------------------------------------------------------------------------------------
# The text encoder


def text_encoder_config(vocab_size: int) -> dict:
    """A UMT5 encoder as wide as UMT5-XXL (d_model 4096, so it plugs into text_dim 4096) but tiny inside."""
    return dict(
        vocab_size=vocab_size, d_model=4096, d_kv=32, d_ff=64, num_layers=2, num_heads=2,
        relative_attention_num_buckets=32, relative_attention_max_distance=128, feed_forward_proj="gated-gelu",
        is_encoder_decoder=False, use_cache=False, pad_token_id=0, eos_token_id=1, decoder_start_token_id=0,
        dropout_rate=0.0, tie_word_embeddings=False,
    )


#: Softmax bias towards the word `offset` places back, per head; every layer gets the same.
LOOK_BACK = {0: -1, 1: -2}
LOOK_BACK_BIAS = 8.0


def _look_back(model) -> None:
    """Random T5 attention is nearly uniform, which would leave only a bag of words. Biasing head 0
    towards the previous word and head 1 towards the one before keeps word order ("the red circle
    with a blue square" is not "the blue circle with a red square")."""
    for block in model.encoder.block:
        attention = block.layer[0].SelfAttention
        if not attention.has_relative_attention_bias:
            continue
        buckets = attention._relative_position_bucket(torch.tensor(list(LOOK_BACK.values())))
        with torch.no_grad():
            for head, bucket in zip(LOOK_BACK, buckets.tolist()):
                attention.relative_attention_bias.weight[bucket, head] = LOOK_BACK_BIAS


def build_text_encoder(seed: int = 0) -> TextEncoder:
    """A seeded, frozen UMT5 encoder over `instruction_vocabulary()`, its weights rounded to fp16 (as shipped)."""
    from transformers import UMT5Config, UMT5EncoderModel

    tokenizer = make_word_tokenizer(instruction_vocabulary())
    with seeded(seed):
        model = UMT5EncoderModel(UMT5Config(**text_encoder_config(len(tokenizer))))
    _look_back(model)
    model = model.half().float().eval().requires_grad_(False)
    return TextEncoder(model, tokenizer)


#: Instructions are far shorter than Wan's 512 tokens. Padding tokens are masked out of
#: the encoder's attention, so encoding at this length gives the same rows, much faster.
SHORT_TEXT_LENGTH = 64


def trimmed_embeddings(text_encoder: TextEncoder, texts: list[str], batch_size: int = 32) -> list[torch.Tensor]:
    """Each text's embeddings without the zero padding rows, [L, 4096]."""
    out = []
    for start in range(0, len(texts), batch_size):
        chunk = texts[start : start + batch_size]
        _, mask = text_encoder.tokenize(chunk, SHORT_TEXT_LENGTH)
        embeddings = text_encoder.encode(chunk, SHORT_TEXT_LENGTH)
        out.extend(embeddings[i, : int(mask[i].sum())].clone() for i in range(len(chunk)))
    return out
