"""Errors that name the input at fault and say how to fix it."""

import logging
import sys
from typing import Callable


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


def run_command(run: Callable[[], None]) -> int:
    """A command line's body, run with warnings logged: a ReCoInputError becomes its message on stderr and exit
    code 2 (no traceback); 0 otherwise."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        run()
    except ReCoInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0
