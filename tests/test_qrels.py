"""Qrels JSONL parsing, error messages and category expansion."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qdrant_mm.errors import QdrantMMError
from qdrant_mm.evaluation.metrics import evaluate
from qdrant_mm.evaluation.qrels import (
    QrelsError,
    category_qrels,
    expand_category_qrels,
    group_by_category,
    parse_qrels,
    read_qrels,
)


def write(path: Path, *objs: object) -> Path:
    path.write_text("\n".join(o if isinstance(o, str) else json.dumps(o) for o in objs) + "\n")
    return path


def test_all_line_forms(tmp_path: Path) -> None:
    (tmp_path / "imgs").mkdir()
    (tmp_path / "imgs" / "shoe.jpg").write_bytes(b"x")
    path = write(
        tmp_path / "qrels.jsonl",
        {"query": "red shoes", "relevant": ["p1", 7, "p1"]},
        "",
        {"id": "bag", "query": "leather bag", "relevant": {"p3": 2, "9": 1, "p4": 0}},
        {"image": "imgs/shoe.jpg", "relevant": ["p1"]},
        {"image": "https://example.com/a.jpg", "relevant": ["p2"]},
        {"category": "Sneaker", "id": 5},
    )
    qrels = read_qrels(path)
    assert [q.id for q in qrels.queries] == ["q1", "bag", "q4", "q5", "5"]
    assert [q.kind for q in qrels.queries] == ["text", "text", "image", "image", "category"]
    q1, bag, img, url, cat = qrels.queries
    assert q1.text == "red shoes" and q1.relevance == {"p1": 1, "7": 1} and q1.line == 1
    assert bag.relevance == {"p3": 2, "9": 1, "p4": 0}
    assert bag.relevant_ids == ["p3", "9"]
    assert img.image == str((tmp_path / "imgs" / "shoe.jpg").resolve())
    assert Path(img.image).is_absolute() and img.text is None
    assert url.image == "https://example.com/a.jpg"
    assert cat.text == "Sneaker" and cat.category == "Sneaker" and cat.relevance == {}
    assert cat.line == 6
    assert qrels.relevance()["bag"] == {"p3": 2, "9": 1, "p4": 0}
    assert len(qrels) == 5 and qrels.source == str(path)


def test_image_path_resolved_against_qrels_folder_not_cwd(tmp_path: Path, monkeypatch) -> None:
    sub = tmp_path / "eval"
    sub.mkdir()
    (sub / "q.png").write_bytes(b"x")
    path = write(sub / "qrels.jsonl", {"image": "q.png", "relevant": ["a"]})
    monkeypatch.chdir(tmp_path)
    assert read_qrels(path).queries[0].image == str((sub / "q.png").resolve())


def test_utf8_bom_and_unicode(tmp_path: Path) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('{"query": "café crème", "relevant": ["é1"]}\n', encoding="utf-8-sig")
    q = read_qrels(path).queries[0]
    assert q.text == "café crème" and q.relevance == {"é1": 1}


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"query": "x", "relevant": ["a"]', "bad JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"query": "x", "image": "a.jpg", "relevant": ["a"]}', "not both"),
        ('{"relevant": ["a"]}', "needs one of 'query', 'image' or 'category'"),
        ('{"query": "x"}', "missing 'relevant'"),
        ('{"query": "x", "relevant": []}', "'relevant' is empty"),
        ('{"query": "x", "relevant": {}}', "'relevant' is empty"),
        ('{"query": "x", "relevant": {"a": -1}}', "negative grade -1 for product 'a'"),
        ('{"query": "x", "relevant": {"a": 0}}', "no product with a grade > 0"),
        ('{"query": "x", "relevant": {"a": 1.5}}', "whole number"),
        ('{"query": "x", "relevant": {"a": "2"}}', "must be a number"),
        ('{"query": "x", "relevant": "a"}', "must be a list of ids or an object"),
        ('{"query": "x", "relevant": [1.5]}', "product id must be a string or an integer"),
        ('{"query": "x", "relevant": [true]}', "product id must be a string or an integer"),
        ('{"query": "x", "relevant": [""]}', "empty product id"),
        ('{"query": "  ", "relevant": ["a"]}', "'query' must be a non-empty string"),
        ('{"query": "x", "relevant": ["a"], "relevent": ["b"]}', "unknown key(s) 'relevent'"),
        ('{"category": "Shoe", "relevant": ["a"]}', "remove 'relevant'"),
        ('{"category": "Shoe", "query": "x"}', "cannot be combined"),
        ('{"category": 3}', "'category' must be a non-empty string"),
        ('{"query": "x", "relevant": {"a": 1, "a": 2}}', "duplicate key 'a'"),
        ('{"id": 1.5, "query": "x", "relevant": ["a"]}', "query id must be"),
        # 2^g - 1 overflows a float above 1023: refused, not a crash of the metrics
        ('{"query": "x", "relevant": {"a": 1024}}', "grade 1024 of product 'a' is over 100"),
        ('{"query": "x", "relevant": {"a": 1e308}}', "is over 100"),
        ('{"query": "x", "relevant": {"a": Infinity}}', "must be a whole number, got inf"),
        ('{"query": "x", "relevant": {"a": NaN}}', "must be a whole number, got nan"),
        ('{"query": "boot \\ud800", "relevant": ["a"]}', "lone surrogate \\ud800 at character 6"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ],
    ids=lambda v: v[:40] if isinstance(v, str) else v,
)
def test_errors_name_the_line(line: str, message: str) -> None:
    lines = ['{"query": "ok", "relevant": ["a"]}', "", line]
    with pytest.raises(QrelsError) as info:
        parse_qrels(lines, source="q.jsonl", check_images=False)
    assert str(info.value).startswith("q.jsonl, line 3: ")
    assert message in str(info.value)
    assert info.value.line == 3
    assert isinstance(info.value, QdrantMMError)


def test_duplicate_query_id_names_both_lines() -> None:
    lines = [
        '{"id": "a", "query": "x", "relevant": ["1"]}',
        '{"id": "a", "query": "y", "relevant": ["2"]}',
    ]
    with pytest.raises(QrelsError, match=r"line 2: duplicate query id 'a' \(first on line 1\)"):
        parse_qrels(lines)


def test_missing_image_is_reported_with_line(tmp_path: Path) -> None:
    path = write(tmp_path / "q.jsonl", {"image": "nope.jpg", "relevant": ["a"]})
    with pytest.raises(QrelsError, match=r"line 1: image file not found: .*nope\.jpg"):
        read_qrels(path)
    assert read_qrels(path, check_images=False).queries[0].image == str(tmp_path / "nope.jpg")


def test_empty_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(QrelsError, match="no queries"):
        read_qrels(write(tmp_path / "empty.jsonl", "", "  "))
    with pytest.raises(QrelsError, match="cannot read qrels file"):
        read_qrels(tmp_path / "missing.jsonl")


def test_expand_category_qrels() -> None:
    qrels = parse_qrels(
        ['{"category": "Sneaker"}', '{"query": "bag", "relevant": ["b1"]}', '{"category": "Hat"}']
    )
    products = group_by_category([("s1", "Sneaker"), (2, "Sneaker"), ("h1", "Hat"), ("x", None)])
    assert products == {"Sneaker": ["s1", "2"], "Hat": ["h1"]}
    expanded = expand_category_qrels(qrels, products)
    assert expanded.relevance() == {"q1": {"s1": 1, "2": 1}, "q2": {"b1": 1}, "q3": {"h1": 1}}
    assert expanded.queries[0].text == "Sneaker"
    assert qrels.queries[0].relevance == {}  # the input is left unchanged


def test_expand_unknown_category_strict_and_lenient() -> None:
    qrels = parse_qrels(['{"query": "bag", "relevant": ["b1"]}', '{"category": "sneaker"}'])
    with pytest.raises(QrelsError, match=r"line 2: category 'sneaker' has no product"):
        expand_category_qrels(qrels, {"Sneaker": ["s1"]})  # exact, case-sensitive match
    lenient = expand_category_qrels(qrels, {"Sneaker": ["s1"]}, strict=False)
    result = evaluate({"q1": ["b1"], "q2": ["s1"]}, lenient.relevance())
    assert result.skipped == ["q2"] and result.n_queries == 1


def test_category_qrels_for_every_category() -> None:
    qrels = category_qrels(["Sneaker", "Hat", "Sneaker", "", "Bag"])
    assert [q.id for q in qrels.queries] == ["category:Sneaker", "category:Hat", "category:Bag"]
    assert all(q.kind == "category" and q.text == q.category for q in qrels.queries)
    expanded = expand_category_qrels(qrels, {"Sneaker": ["1"], "Hat": ["2"], "Bag": ["3", "4"]})
    assert expanded.relevance()["category:Bag"] == {"3": 1, "4": 1}
    with pytest.raises(QrelsError, match="category 'Hat' has no product"):
        expand_category_qrels(qrels, {"Sneaker": ["1"], "Bag": ["3"]})
