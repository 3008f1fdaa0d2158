import pytest

from pipelines.prompts import DEFAULT_NEGATIVE_PROMPT, clean_text, refine_prompt


def test_cleanup_removes_control_characters_and_collapses_whitespace() -> None:
    assert clean_text("  a\tcat\x00 on\u200b a\n\nmat , , ,  ") == "a cat on a mat"


def test_cleanup_normalises_unicode_compatibility_forms() -> None:
    assert clean_text("ｆｕｌｌwidth") == "fullwidth"


def test_style_preset_adds_only_missing_modifiers() -> None:
    refined = refine_prompt("a fox, Sharp Focus", style="photo")
    assert refined.prompt == "a fox, Sharp Focus, photograph, natural lighting, highly detailed"
    assert any("photo" in note for note in refined.notes)


def test_default_negative_prompt_is_used_when_none_given() -> None:
    assert refine_prompt("a fox").negative_prompt == DEFAULT_NEGATIVE_PROMPT
    assert refine_prompt("a fox", "  ").negative_prompt == DEFAULT_NEGATIVE_PROMPT
    assert refine_prompt("a fox", "blurry\x07").negative_prompt == "blurry"


def test_tokens_past_the_encoder_limit_are_reported_not_cut() -> None:
    words = [f"w{i}" for i in range(100)]
    refined = refine_prompt(
        " ".join(words),
        tokenize=lambda text: [0, *range(len(text.split())), 1],
        detokenize=lambda ids: " ".join(words[i] for i in ids),
        token_limit=77,
    )
    assert refined.token_count == 102
    assert refined.prompt.endswith("w99")
    # 76 tokens fit before the closing one: the first word past them is w75.
    assert refined.truncated_text is not None and refined.truncated_text.startswith("w75 ")
    assert any("exceed" in note for note in refined.notes)


def test_empty_prompt_after_cleanup_is_rejected() -> None:
    with pytest.raises(ValueError, match="empty"):
        refine_prompt("\x00\t \u200b")


def test_unknown_style_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown style"):
        refine_prompt("a fox", style="baroque")
