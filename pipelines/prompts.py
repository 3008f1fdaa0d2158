"""Prompt refinement: the deterministic clean-up run before text-to-image.

Refinement is a fixed, documented transformation, not a language model:
1. Unicode is normalised (NFKC) and control and formatting characters are
   removed; runs of whitespace become one space; stray separators (", ,") are
   collapsed.
2. An optional style preset appends its quality modifiers, skipping any the
   prompt already contains.
3. With no negative prompt given, a default one is used.
4. The prompt is counted in the text encoder's tokens; what lies past the
   encoder's limit (77 for CLIP) would be silently dropped by the model, so it is
   reported in `notes` (the prompt itself is left whole).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

DEFAULT_NEGATIVE_PROMPT = (
    "lowres, blurry, jpeg artifacts, watermark, signature, text, deformed, bad anatomy"
)

STYLE_PRESETS: dict[str, tuple[str, ...]] = {
    "photo": ("photograph", "natural lighting", "sharp focus", "highly detailed"),
    "cinematic": ("cinematic lighting", "shallow depth of field", "film grain", "35mm"),
    "illustration": ("digital illustration", "clean lines", "vibrant colors"),
    "anime": ("anime style", "cel shading", "vibrant colors"),
    "3d": ("3d render", "octane render", "global illumination", "highly detailed"),
}

CLIP_TOKEN_LIMIT = 77

# Returns the token ids of a text, special tokens included, without truncation.
Tokenize = Callable[[str], list[int]]
Detokenize = Callable[[list[int]], str]


@dataclass(frozen=True, slots=True)
class RefinedPrompt:
    prompt: str
    negative_prompt: str
    notes: tuple[str, ...]
    token_count: int | None
    token_limit: int
    truncated_text: str | None


_SEPARATOR_RUNS = re.compile(r"\s*,(?:\s*,)+\s*")
_WHITESPACE = re.compile(r"\s+")


def clean_text(text: str) -> str:
    """NFKC, no control/format characters, single spaces, no empty comma items."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(
        " " if unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp") else char for char in text
    )
    text = _WHITESPACE.sub(" ", text)
    text = _SEPARATOR_RUNS.sub(", ", text)
    return text.strip(" ,")


def refine_prompt(
    prompt: str,
    negative_prompt: str | None = None,
    *,
    style: str | None = None,
    tokenize: Tokenize | None = None,
    detokenize: Detokenize | None = None,
    token_limit: int = CLIP_TOKEN_LIMIT,
) -> RefinedPrompt:
    """Refine a prompt as the module docstring describes.

    Raises `ValueError` for an unknown style (callers validate styles up front)
    and for a prompt that is empty once cleaned.
    """
    notes: list[str] = []
    refined = clean_text(prompt)
    if not refined:
        raise ValueError("the prompt is empty once control characters and spaces are removed")
    if refined != prompt:
        notes.append("cleaned whitespace and control characters")

    if style is not None:
        if style not in STYLE_PRESETS:
            raise ValueError(f"unknown style {style!r}; known: {', '.join(STYLE_PRESETS)}")
        present = refined.casefold()
        added = [m for m in STYLE_PRESETS[style] if m.casefold() not in present]
        if added:
            refined = ", ".join([refined, *added])
            notes.append(f"style {style!r} added: {', '.join(added)}")

    if negative_prompt is None or not clean_text(negative_prompt):
        negative = DEFAULT_NEGATIVE_PROMPT
        notes.append("default negative prompt used")
    else:
        negative = clean_text(negative_prompt)

    token_count = None
    truncated_text = None
    if tokenize is not None:
        ids = tokenize(refined)
        token_count = len(ids)
        if token_count > token_limit:
            # The encoder keeps its first limit-1 tokens and its closing token.
            dropped = ids[token_limit - 1 : -1]
            truncated_text = detokenize(dropped) if detokenize else None
            notes.append(
                f"{token_count} tokens exceed the text encoder's limit of {token_limit}; "
                f"{len(dropped)} would be ignored"
                + (f": {truncated_text!r}" if truncated_text else "")
            )

    return RefinedPrompt(
        prompt=refined,
        negative_prompt=negative,
        notes=tuple(notes),
        token_count=token_count,
        token_limit=token_limit,
        truncated_text=truncated_text,
    )
