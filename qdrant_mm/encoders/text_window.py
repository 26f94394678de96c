"""Cutting a text to a model's token window without tokenizing all of a huge input.

Every text tower truncates by *tokens*: the tokenizer reads the text and keeps the first tokens
that fit the model's window (with its start and end-of-text tokens). Counting characters
instead would drop words that fit: a whitespace run or a long URL uses many characters but few
or no tokens. To keep a pathological input (a whole catalog pasted into a description) from
costing a full tokenization, :func:`head_for_window` hands the tokenizer only a head of a long
text: the first whitespace-bounded head that already fills the window, found by trying heads of
doubling length. Both tokenizers (BERT WordPiece for BLIP, CLIP's BPE) split at ASCII whitespace
before anything else, so that head truncates to exactly the tokens of the whole text. Only past
:data:`MAX_TEXT_CHARS` characters is a text cut without that check.
"""

from __future__ import annotations

from collections.abc import Callable

#: Characters of a text read at most, whatever its tokens: a guard against absurd inputs only,
#: far beyond what any window holds (CLIP's 77 tokens are at most a few hundred characters of
#: words; whitespace and punctuation runs of this size are not text).
MAX_TEXT_CHARS = 65_536

_SPACES = " \t\n\r"


def head_for_window(
    text: str,
    fills_window: Callable[[str], bool],
    *,
    start_chars: int,
    max_chars: int = MAX_TEXT_CHARS,
) -> str:
    """A head of ``text`` whose truncated tokens are those of ``text`` (``text`` itself when
    short).

    ``fills_window(head)``: whether ``head`` already yields a full window of tokens. Heads end
    just before an ASCII whitespace character, so the last word is never split; heads of
    ``start_chars``, twice that, and so on are tried until one fills the window or the text is
    short enough to tokenize whole (at most ``max_chars`` characters are kept).
    """
    budget = min(max(1, int(start_chars)), max_chars)
    while len(text) > budget:
        cut = _last_break(text, budget)
        if cut > 0 and fills_window(text[:cut]):
            return text[:cut]
        if budget >= max_chars:
            return text[:max_chars]
        budget = min(2 * budget, max_chars)
    return text


def _last_break(text: str, limit: int) -> int:
    """End of the last word before ``text[limit]``: the start of the whitespace run that holds
    the last ASCII whitespace character at or before ``limit`` (0 if there is none)."""
    at = max(text.rfind(c, 0, limit + 1) for c in _SPACES)
    if at < 0:
        return 0
    return len(text[:at].rstrip(_SPACES))
