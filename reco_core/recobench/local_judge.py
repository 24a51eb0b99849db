"""A judge that runs a transformers vision-language model from a local folder, offline.

It gets exactly what an API judge gets: the step 1 JPEG images (decoded, so the pixels are the ones an
API would see) and the prompt, as one user turn of the model's own chat template; greedy decoding.
transformers is imported, and the model loaded, only when the first pair is judged.
"""

from __future__ import annotations

import io
import threading
from pathlib import Path

from ..choices import DTYPE_NAMES
from ..errors import CancelledError, ReCoInputError
from .judges import JudgeRequest

DTYPES = ("auto", *DTYPE_NAMES)


class LocalVLMJudge:
    """A local image-text-to-text model (Qwen2.5-VL, LLaVA, Gemma 3, SmolVLM, ...), one pair at a time."""

    needs_prompt = True
    workers = 1

    def __init__(self, folder: str, *, device: str | None = None, dtype: str = "auto", max_new_tokens: int = 2048):
        path = Path(folder or "").expanduser()
        if not folder or not (path / "config.json").is_file():
            raise ReCoInputError("--judge-model", f"{folder!r} is not a model folder (no config.json)",
                                 "Give the local folder of a transformers vision-language model (its config.json, "
                                 "weights and processor files); nothing is downloaded.")
        if dtype not in DTYPES:
            raise ReCoInputError("--judge-dtype", f"{dtype!r} is not a dtype", f"Use one of: {', '.join(DTYPES)}.")
        if max_new_tokens < 1:
            raise ReCoInputError("--max-tokens", f"{max_new_tokens} is not a positive token count", "Use e.g. 2048.")
        self.folder, self.device, self.dtype, self.max_new_tokens = path, device, dtype, max_new_tokens
        self.identity = {"kind": "local", "model": path.name, "max_new_tokens": max_new_tokens}
        self._model = self._processor = None

    def scrub(self, text: str) -> str:
        return text

    def _load(self) -> None:
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtypes = {"auto": "auto", "bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
        self._processor = AutoProcessor.from_pretrained(self.folder, local_files_only=True)
        if not getattr(self._processor, "chat_template", None):
            raise ReCoInputError("--judge-model", f"{self.folder} has no chat template",
                                 "Use an instruction-tuned vision-language model whose processor has a chat template.")
        model = AutoModelForImageTextToText.from_pretrained(self.folder, local_files_only=True,
                                                            dtype=dtypes[self.dtype])
        self._model = model.to(device).eval()

    def answer(self, request: JudgeRequest, cancel: threading.Event) -> tuple[str, int]:
        import torch
        from PIL import Image

        if cancel.is_set():
            raise CancelledError("judging cancelled")
        if self._model is None:
            self._load()
        images = [Image.open(io.BytesIO(jpeg)).convert("RGB") for jpeg in request.images]
        content = [*({"type": "image"} for _ in images), {"type": "text", "text": request.prompt}]
        text = self._processor.apply_chat_template([{"role": "user", "content": content}],
                                                   add_generation_prompt=True, tokenize=False)
        inputs = self._processor(text=[text], images=images, return_tensors="pt").to(self._model.device)
        with torch.inference_mode():
            output = self._model.generate(**inputs, max_new_tokens=self.max_new_tokens, do_sample=False)
        new_tokens = output[:, inputs["input_ids"].shape[1]:]
        return self._processor.batch_decode(new_tokens, skip_special_tokens=True)[0], 1
