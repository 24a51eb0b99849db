"""Instructions -> text embeddings [B, 512, D], as Wan2.1 computes them.

Wan encodes the prompt with UMT5-XXL, keeps the rows of the real tokens (EOS included) and
zero-pads them to 512 rows; the transformer's cross-attention then sees all 512. Embeddings made
elsewhere (ComfyUI's CLIP Text Encode gives [1, L, 4096]) go through `pad_embeddings`.
"""

from __future__ import annotations

import html
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Sequence

import torch

from ..errors import ReCoInputError

TEXT_LENGTH = 512
SPECIAL_TOKENS = ("<pad>", "</s>", "<unk>")  # ids 0, 1, 2 as in T5
_ENCODER_CLASSES = {"umt5": "UMT5EncoderModel", "t5": "T5EncoderModel", "mt5": "MT5EncoderModel"}
_TOKENIZER_FILES = ("tokenizer.json", "spiece.model")


def clean_prompt(text: str) -> str:
    """The prompt cleaning of Wan and diffusers: ftfy (when installed), HTML unescape, one space."""
    try:
        import ftfy

        text = ftfy.fix_text(text)
    except ImportError:
        pass
    text = html.unescape(html.unescape(text)).strip()
    return re.sub(r"\s+", " ", text).strip()


def zero_padding_rows(embeddings: torch.Tensor, lengths: torch.Tensor, length: int = TEXT_LENGTH) -> torch.Tensor:
    """[B, L, D] -> [B, length, D]: row i of sample b kept when i < lengths[b], else zero."""
    batch, _, width = embeddings.shape
    out = embeddings.new_zeros(batch, length, width)
    for index, count in enumerate(lengths.tolist()):
        count = min(int(count), length, embeddings.shape[1])
        out[index, :count] = embeddings[index, :count]
    return out


def pad_embeddings(embeddings: torch.Tensor, length: int = TEXT_LENGTH, *, text_dim: int | None = None,
                   mask: torch.Tensor | None = None, input_name: str = "text embeddings") -> torch.Tensor:
    """Ready-made text embeddings [L, D] or [B, L, D] -> [B, length, D], zero-padded as Wan does.

    Rows beyond `mask.sum()` (when a mask is given) are zeroed; more than `length` rows are cut to
    `length`, as Wan's tokenizer truncates. `text_dim` is the transformer's `text_dim` (4096 for
    real Wan) and is checked against the last dimension.
    """
    if embeddings.dim() == 2:
        embeddings = embeddings.unsqueeze(0)
        mask = None if mask is None else mask.reshape(1, -1)
    if embeddings.dim() != 3:
        raise ReCoInputError(input_name, f"expected [B, L, D] embeddings, got shape {tuple(embeddings.shape)}",
                             "pass the conditioning tensor of a text encoder")
    if text_dim is not None and embeddings.shape[-1] != text_dim:
        raise ReCoInputError(
            input_name,
            f"the embeddings are {embeddings.shape[-1]} wide but the transformer expects text_dim {text_dim}",
            "encode the instruction with the model's own text encoder (UMT5-XXL for Wan2.1, 4096 wide)",
        )
    if mask is None:
        lengths = torch.full((embeddings.shape[0],), embeddings.shape[1])
    else:
        lengths = mask.reshape(embeddings.shape[0], -1).gt(0).sum(dim=1)
    return zero_padding_rows(embeddings, lengths, length)


# ----------------------------------------------------------------------------------------------
# Tokenizers
# ----------------------------------------------------------------------------------------------


def make_word_tokenizer(vocabulary: Sequence[str]):
    """A word-level fast tokenizer (lower case, punctuation split, `$A </s>`) over `vocabulary`.

    Ids 0, 1, 2 are `<pad>`, `</s>`, `<unk>` as in T5, so it drives a UMT5 encoder like the real one.
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    words = list(dict.fromkeys(w.lower() for w in vocabulary if w.lower() not in SPECIAL_TOKENS))
    vocab = {token: index for index, token in enumerate([*SPECIAL_TOKENS, *words])}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    tokenizer.post_processor = processors.TemplateProcessing(
        single="$A </s>", pair="$A </s> $B </s>", special_tokens=[("</s>", vocab["</s>"])]
    )
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token="<pad>", eos_token="</s>",
                                   unk_token="<unk>", model_max_length=TEXT_LENGTH)


def _save_into(folder: str | os.PathLike, write) -> None:
    """Write files into a temporary folder with `write(tmp)`, then move each into `folder` atomically."""
    target = Path(folder)
    target.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".reco-", dir=target) as tmp:
        write(tmp)
        for item in Path(tmp).iterdir():
            os.replace(item, target / item.name)


def save_word_tokenizer(tokenizer, folder: str | os.PathLike) -> None:
    """Save a tokenizer (tokenizer.json + tokenizer_config.json) so `load_tokenizer` reads it back."""
    _save_into(folder, tokenizer.save_pretrained)


def _has_tokenizer(folder: Path) -> bool:
    return any((folder / name).is_file() for name in _TOKENIZER_FILES)


def load_tokenizer(folder: str | os.PathLike, input_name: str = "text_encoder"):
    """A tokenizer from a local folder (tokenizer.json or spiece.model); never downloads."""
    from transformers import AutoTokenizer, PreTrainedTokenizerFast, T5Tokenizer

    folder = Path(folder)
    try:
        return AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except Exception as error:
        auto_error = error
    # Without tokenizer_config.json AutoTokenizer cannot tell the class; the files still can.
    try:
        if (folder / "tokenizer.json").is_file():
            return PreTrainedTokenizerFast(tokenizer_file=str(folder / "tokenizer.json"), pad_token="<pad>",
                                           eos_token="</s>", unk_token="<unk>", model_max_length=TEXT_LENGTH)
        if (folder / "spiece.model").is_file():
            return T5Tokenizer(vocab_file=str(folder / "spiece.model"), model_max_length=TEXT_LENGTH)
    except Exception as error:
        auto_error = error
    raise ReCoInputError(input_name, f"the tokenizer in {folder} could not be read ({auto_error})",
                         "use the tokenizer/ folder of a Wan2.1 diffusers snapshot (google/umt5-xxl)")


# ----------------------------------------------------------------------------------------------
# Text encoder
# ----------------------------------------------------------------------------------------------


class TextEncoder:
    """A (U)MT5 encoder and its tokenizer that turn instructions into Wan text embeddings."""

    def __init__(self, model, tokenizer):
        self.model = model
        self.tokenizer = tokenizer

    @property
    def text_dim(self) -> int:
        return self.model.config.d_model

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    def tokenize(self, texts: Sequence[str], max_length: int = TEXT_LENGTH) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids and attention mask [B, max_length]: cleaned, EOS appended, truncated, padded."""
        tokens = self.tokenizer(
            [clean_prompt(t) for t in texts], padding="max_length", max_length=max_length, truncation=True,
            add_special_tokens=True, return_attention_mask=True, return_tensors="pt",
        )
        return tokens.input_ids, tokens.attention_mask

    @torch.no_grad()
    def encode(self, texts: Sequence[str] | str, max_length: int = TEXT_LENGTH) -> torch.Tensor:
        """Instructions -> [B, max_length, D] embeddings; rows after each prompt's tokens are zero."""
        if isinstance(texts, str):
            texts = [texts]
        ids, mask = self.tokenize(texts, max_length)
        hidden = self.model(input_ids=ids.to(self.device), attention_mask=mask.to(self.device)).last_hidden_state
        return zero_padding_rows(hidden, mask.sum(dim=1), max_length)

    def save(self, folder: str | os.PathLike) -> None:
        """Save model (config.json + safetensors) and tokenizer into one flat folder."""

        def write(tmp):
            self.model.save_pretrained(tmp)
            self.tokenizer.save_pretrained(tmp)

        _save_into(folder, write)


def _encoder_folder(root: Path, input_name: str) -> Path:
    for folder in (root, root / "text_encoder"):
        if (folder / "config.json").is_file():
            return folder
    raise ReCoInputError(
        input_name, f"no config.json in {root} or {root / 'text_encoder'}",
        "pass a folder holding a transformers UMT5 encoder (config.json + weights + tokenizer), "
        "or a Wan2.1 diffusers snapshot with text_encoder/ and tokenizer/",
    )


def _tokenizer_folder(root: Path, encoder_folder: Path, input_name: str) -> Path:
    for folder in (root, root / "tokenizer", encoder_folder):
        if _has_tokenizer(folder):
            return folder
    raise ReCoInputError(input_name, f"no tokenizer (tokenizer.json or spiece.model) found in {root}",
                         "copy the tokenizer files next to the encoder or into a tokenizer/ subfolder")


def _encoder_class(folder: Path, input_name: str):
    import transformers

    model_type = json.loads((folder / "config.json").read_text(encoding="utf-8")).get("model_type")
    if model_type not in _ENCODER_CLASSES:
        raise ReCoInputError(input_name, f"{folder} holds a {model_type!r} model, not a (U)T5 text encoder",
                             "use the UMT5-XXL text encoder of Wan2.1 (text_encoder/ of a diffusers snapshot)")
    return getattr(transformers, _ENCODER_CLASSES[model_type])


def load_text_encoder(path: str | os.PathLike, *, dtype: torch.dtype = torch.bfloat16, device="cpu",
                      input_name: str = "text_encoder") -> TextEncoder:
    """Load a UMT5 encoder and tokenizer from a local folder (flat, or `text_encoder/` + `tokenizer/`)."""
    root = Path(path).expanduser()
    if not root.is_dir():
        what = "not found" if not root.exists() else "a file, not a folder"
        raise ReCoInputError(input_name, f"{root} is {what}",
                             "pass a folder with the encoder's config.json, weights and tokenizer files "
                             "(for ComfyUI's single-file UMT5, encode with CLIP Text Encode and pass the embeddings)")
    encoder_folder = _encoder_folder(root, input_name)
    tokenizer = load_tokenizer(_tokenizer_folder(root, encoder_folder, input_name), input_name)
    try:
        model = _encoder_class(encoder_folder, input_name).from_pretrained(
            str(encoder_folder), local_files_only=True, dtype=dtype
        )
    except ReCoInputError:
        raise
    except Exception as error:
        raise ReCoInputError(input_name, f"the text encoder in {encoder_folder} could not be loaded ({error})",
                             "check that the weights files are complete") from None
    return TextEncoder(model.to(device).eval(), tokenizer)
