"""Reading a judge's answer as the authors' step 1 does, and saying clearly when it is malformed.

Step 1 keeps, per pair, the JSON object between the first `{` and its matching `}` (braces inside strings
skipped). An answer that contains the word "error" anywhere is stored as `{"score": "error"}` instead:
step 1 uses that to mark a failed API call, and it catches real answers that mention an error too
(`parse="authors"`, the default, keeps that; `parse="json"` only looks at the JSON). Step 2 later scores
a block without a `scores` list as 0.

`read_answer` never raises for a bad answer: it returns what step 1 would store and, when the answer is not
three blocks of three scores, an error that says what is wrong. The runner keeps both with the raw answer.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from .protocol import CATEGORIES

PARSE_MODES = ("authors", "json")
ERROR_RESPONSE = {"score": "error"}
SCORE_RANGE = (0, 10)


@dataclass
class ParsedAnswer:
    """`response`: what step 1 stores for the pair; `error`: why the answer is malformed (None when it is not)."""

    response: dict
    error: str | None = None


def extract_braced_json(text: str) -> str | None:
    """The text from the first `{` to the `}` that closes it, skipping braces inside double-quoted strings."""
    start = text.find("{")
    if start < 0:
        return None
    depth, in_string, escaped = 0, False, False
    for position in range(start, len(text)):
        char = text[position]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return text[start:position + 1]
    return None


def _is_score(value) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            and SCORE_RANGE[0] <= value <= SCORE_RANGE[1])


def shape_problem(response) -> str | None:
    """What keeps `response` from being three blocks of three scores in 0..10 (None if nothing)."""
    if not isinstance(response, dict):
        return f"the JSON is a {type(response).__name__}, not an object"
    for category in CATEGORIES:
        block = response.get(category)
        scores = block.get("scores") if isinstance(block, dict) else None
        if not isinstance(scores, list):
            return f'"{category}" has no "scores" list'
        if len(scores) != 3 or not all(_is_score(score) for score in scores):
            return f'"{category}" scores {json.dumps(scores)[:80]} are not three numbers in 0..10'
    return None


def read_answer(text: str | None, parse: str = "authors") -> ParsedAnswer:
    """Step 1's reading of one answer, with the reason when it is malformed."""
    if not text or not text.strip():
        return ParsedAnswer(dict(ERROR_RESPONSE), "the judge returned an empty answer")
    if parse == "authors" and "error" in text.lower():
        return ParsedAnswer(dict(ERROR_RESPONSE), 'the answer contains the word "error", which the authors\' step 1 '
                            'stores as {"score": "error"} (0 in step 2); --parse json reads its JSON instead')
    braced = extract_braced_json(text)
    if braced is None:
        return ParsedAnswer(dict(ERROR_RESPONSE), "the answer holds no complete {...} JSON object")
    try:
        response = json.loads(braced)
    except json.JSONDecodeError as error:
        return ParsedAnswer(dict(ERROR_RESPONSE), f"the answer's {{...}} is not valid JSON ({error.msg} at "
                            f"character {error.pos})")
    problem = shape_problem(response)
    return ParsedAnswer(response, None if problem is None else f"malformed scores: {problem}")
