"""Text embeddings: Wan's zero padding to 512, the word tokenizer, and the tiny UMT5 encoder offline."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import functools
import json

import pytest
import torch

from reco_core.errors import ReCoInputError
from reco_core.models import text, tiny

PROMPTS = ["Add a red hat to the cat.", "remove   the dog"]


@functools.lru_cache(maxsize=None)
def encoder():
    return tiny.build_tiny_text_encoder(seed=0)


def real_rows(embeddings):
    return (embeddings.abs().sum(dim=-1) > 0).sum(dim=-1).tolist()


# ----------------------------------------------------------------------------------------------
# Padding
# ----------------------------------------------------------------------------------------------


def test_pad_embeddings_keeps_rows_and_zero_pads_to_512():
    embeddings = torch.randn(1, 7, 32)
    padded = text.pad_embeddings(embeddings)
    assert padded.shape == (1, 512, 32)
    assert torch.equal(padded[:, :7], embeddings)
    assert not padded[:, 7:].any()


def test_pad_embeddings_accepts_2d_and_keeps_dtype():
    padded = text.pad_embeddings(torch.ones(5, 16, dtype=torch.bfloat16), length=8)
    assert padded.shape == (1, 8, 16) and padded.dtype == torch.bfloat16
    assert real_rows(padded) == [5]


def test_pad_embeddings_zeroes_rows_outside_the_mask():
    embeddings = torch.ones(2, 6, 4)
    mask = torch.tensor([[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 0]])
    assert real_rows(text.pad_embeddings(embeddings, length=10, mask=mask)) == [3, 5]


def test_pad_embeddings_truncates_long_prompts_like_the_tokenizer():
    padded = text.pad_embeddings(torch.ones(1, 600, 4))
    assert padded.shape == (1, 512, 4) and real_rows(padded) == [512]


def test_pad_embeddings_checks_text_dim_and_rank():
    with pytest.raises(ReCoInputError, match="768 wide but the transformer expects text_dim 4096"):
        text.pad_embeddings(torch.ones(1, 7, 768), text_dim=4096)
    with pytest.raises(ReCoInputError, match=r"expected \[B, L, D\]"):
        text.pad_embeddings(torch.ones(1, 1, 7, 32))
    assert text.pad_embeddings(torch.ones(1, 7, 4096), text_dim=4096).shape == (1, 512, 4096)


def test_clean_prompt_collapses_whitespace_and_unescapes_html():
    assert text.clean_prompt("  a &amp;amp; b \n\t c ") == "a & b c"


# ----------------------------------------------------------------------------------------------
# Word tokenizer
# ----------------------------------------------------------------------------------------------


def test_word_tokenizer_lowercases_splits_punctuation_and_appends_eos():
    tokenizer = text.make_word_tokenizer(["add", "a", "red", "hat"])
    assert (tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.unk_token_id) == (0, 1, 2)
    ids = tokenizer("Add a RED hat.").input_ids
    assert ids == [3, 4, 5, 6, 2, 1]  # "." is unknown, then </s>
    assert tokenizer.convert_ids_to_tokens(ids[:4]) == ["add", "a", "red", "hat"]


def test_word_tokenizer_saves_and_reloads(tmp_path):
    tokenizer = text.make_word_tokenizer(["cat", "dog"])
    text.save_word_tokenizer(tokenizer, tmp_path / "tok")
    reloaded = text.load_tokenizer(tmp_path / "tok")
    assert reloaded("dog, cat").input_ids == tokenizer("dog, cat").input_ids == [4, 2, 3, 1]
    assert reloaded.pad_token_id == 0 and reloaded.eos_token_id == 1


def test_sentencepiece_only_tokenizer_folder(tmp_path):
    spm = pytest.importorskip("sentencepiece")
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(["add a red hat to the cat", "remove the dog", "make it snow"] * 20))
    (tmp_path / "tok").mkdir()
    spm.SentencePieceTrainer.train(input=str(corpus), model_prefix=str(tmp_path / "tok" / "spiece"), vocab_size=24,
                                   pad_id=0, eos_id=1, unk_id=2, bos_id=-1, minloglevel=2)
    tokenizer = text.load_tokenizer(tmp_path / "tok")
    ids = tokenizer("add a red hat").input_ids
    assert ids[-1] == tokenizer.eos_token_id == 1 and tokenizer.pad_token_id == 0


# ----------------------------------------------------------------------------------------------
# Encoder
# ----------------------------------------------------------------------------------------------


def test_encode_shapes_and_zero_rows_after_the_real_tokens():
    embeddings = encoder().encode(PROMPTS)
    assert embeddings.shape == (2, 512, 32)
    _, mask = encoder().tokenize(PROMPTS)
    assert mask.sum(dim=1).tolist() == [9, 4]  # 7 words + "." + </s>; 3 words + </s>
    assert real_rows(embeddings) == [9, 4]
    assert not embeddings[0, 9:].any() and not embeddings[1, 4:].any()


def test_padding_does_not_change_the_real_rows():
    long = encoder().encode(PROMPTS)
    short = encoder().encode(PROMPTS, max_length=16)
    assert short.shape == (2, 16, 32)
    assert torch.allclose(long[:, :16], short, atol=1e-6)


def test_encode_accepts_a_single_string():
    assert encoder().encode("add snow").shape == (1, 512, 32)


def test_tiny_encoder_is_seeded():
    a = tiny.build_tiny_text_encoder(seed=0).encode(["add a hat"])
    b = tiny.build_tiny_text_encoder(seed=0).encode(["add a hat"])
    c = tiny.build_tiny_text_encoder(seed=1).encode(["add a hat"])
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_text_dim_matches_the_tiny_transformer():
    assert encoder().text_dim == tiny.tiny_transformer_config()["text_dim"]


def test_load_from_a_flat_folder(tmp_path):
    encoder().save(tmp_path / "umt5")
    loaded = text.load_text_encoder(tmp_path / "umt5", dtype=torch.float32)
    assert torch.equal(loaded.encode(PROMPTS), encoder().encode(PROMPTS))


def test_load_from_a_diffusers_snapshot(tmp_path):
    encoder().model.save_pretrained(tmp_path / "snapshot" / "text_encoder")
    encoder().tokenizer.save_pretrained(tmp_path / "snapshot" / "tokenizer")
    loaded = text.load_text_encoder(tmp_path / "snapshot", dtype=torch.float32)
    assert torch.equal(loaded.encode(PROMPTS), encoder().encode(PROMPTS))


def test_load_casts_to_the_requested_dtype(tmp_path):
    encoder().save(tmp_path / "umt5")
    loaded = text.load_text_encoder(tmp_path / "umt5", dtype=torch.bfloat16)
    assert loaded.dtype == torch.bfloat16
    assert loaded.encode(PROMPTS).dtype == torch.bfloat16


def test_load_errors(tmp_path):
    with pytest.raises(ReCoInputError, match="not found"):
        text.load_text_encoder(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReCoInputError, match="no config.json"):
        text.load_text_encoder(tmp_path / "empty")
    (tmp_path / "bert").mkdir()
    (tmp_path / "bert" / "config.json").write_text(json.dumps({"model_type": "bert"}))
    text.save_word_tokenizer(encoder().tokenizer, tmp_path / "bert")
    with pytest.raises(ReCoInputError, match="not a \\(U\\)T5 text encoder"):
        text.load_text_encoder(tmp_path / "bert")
    encoder().model.save_pretrained(tmp_path / "no_tokenizer")
    with pytest.raises(ReCoInputError, match="no tokenizer"):
        text.load_text_encoder(tmp_path / "no_tokenizer")
    file = tmp_path / "umt5.safetensors"
    file.write_bytes(b"")
    with pytest.raises(ReCoInputError, match="a file, not a folder"):
        text.load_text_encoder(file)
