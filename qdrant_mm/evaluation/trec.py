"""TREC run and qrels files, so trec_eval, ranx or ir-measures can score what was evaluated.

A run file has one line per ranked product, ``qid Q0 docid rank score tag``; a qrels file one
line per judgment, ``qid 0 docid grade``. Fields are separated by single spaces, so query and
product ids must be non-empty and hold no whitespace (a :class:`ValueError` names the first one
that does). Scores are written with Python's shortest round-trip ``repr``: a reader parsing
them as doubles gets the very scores that were ranked. Files are written whole, UTF-8, or not
at all.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

_SPACE = re.compile(r"\s")
_UNSAFE = re.compile(r"[^A-Za-z0-9._,=+-]")

ScoredRanking = Sequence[tuple[str, float]]


def run_tag(label: str, taken: Iterable[str] = ()) -> str:
    """A run tag from a weighting's label, safe as one field and in a file name: characters
    other than letters, digits and ``. _ , = + -`` become ``_`` (``blip only`` ->
    ``blip_only``); ``-2``, ``-3``, ... is added if the tag is in ``taken``."""
    base = _UNSAFE.sub("_", label.strip()) or "run"
    taken = set(taken)
    tag, n = base, 1
    while tag in taken:
        n += 1
        tag = f"{base}-{n}"
    return tag


def _field(value: str, what: str) -> str:
    text = str(value)
    if not text or _SPACE.search(text):
        raise ValueError(
            f"{what} {text!r} is empty or holds whitespace; a TREC file cannot hold it"
        )
    return text


def run_lines(run: Mapping[str, ScoredRanking], tag: str) -> list[str]:
    """``qid Q0 docid rank score tag`` lines: each query's products in the order given, ranks
    from 1. A query with an empty ranking has no line."""
    tag = _field(tag, "run tag")
    lines = []
    for qid, ranking in run.items():
        q = _field(qid, "query id")
        for rank, (pid, score) in enumerate(ranking, start=1):
            d = _field(pid, f"product id (query {q})")
            lines.append(f"{q} Q0 {d} {rank} {float(score)!r} {tag}")
    return lines


def qrels_lines(qrels: Mapping[str, Mapping[str, int]]) -> list[str]:
    """``qid 0 docid grade`` lines, judged non-relevant products (grade 0) included."""
    lines = []
    for qid, relevance in qrels.items():
        q = _field(qid, "query id")
        for pid, grade in relevance.items():
            lines.append(f"{q} 0 {_field(pid, f'product id (query {q})')} {int(grade)}")
    return lines


def write_lines(path: str | Path, lines: Iterable[str]) -> Path:
    """Write ``lines`` (each ended by a newline) to ``path``; returns the path."""
    path = Path(path).expanduser()
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def per_tag_path(template: str, tag: str) -> Path:
    """``template`` with every ``{tag}`` replaced by ``tag``."""
    return Path(template.replace("{tag}", tag)).expanduser()
