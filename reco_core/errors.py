"""Errors that name the input at fault and say how to fix it."""


class ReCoInputError(ValueError):
    """A user-supplied input is invalid.

    The message always has three parts: which input, what is wrong with it, and what to do instead,
    so the CLI, the ComfyUI nodes and the Python API can show it as is.
    """

    def __init__(self, input_name: str, problem: str, fix: str):
        self.input_name = input_name
        self.problem = problem
        self.fix = fix
        super().__init__(f"{input_name}: {problem}. {fix}")


class ReCoLoRAError(ReCoInputError):
    """A LoRA file could not be read, recognised or applied."""


class CancelledError(RuntimeError):
    """Raised inside long work when the caller's cancel check fires."""
