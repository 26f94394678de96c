"""One bad value in a catalog costs its own row only: NaN / Infinity, integers outside int64,
a boolean price, nesting too deep, bytes that are not UTF-8. Each is reported with its id or
line and the reason; every other product is stored, the sync ends normally and later runs go on.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qdrant_mm.catalog import MAX_NESTING, point_id, read_catalog
from qdrant_mm.errors import CatalogError
from qdrant_mm.sync import Syncer
from tests.backends import backend, collection_name  # noqa: F401
from tests.fakes import fake_bundle
from tests.helpers import product_rows, write_catalog

BOM = b"\xef\xbb\xbf"


def nested(levels: int, leaf=1):
    """A value with ``levels`` lists one inside the other."""
    for _ in range(levels):
        leaf = [leaf]
    return leaf


def good_rows() -> list[dict]:
    """Four products whose values are all storable, some right at the limits."""
    rows = product_rows(4)
    rows[0].update(stock=2**63 - 1, offset=-(2**63))
    rows[1].update(specs={"layers": nested(MAX_NESTING - 1)})  # 32 levels with the object
    rows[2].update(in_stock=True, title="Café ☕ 𝄞")
    rows[3].update(ratio=1e308, tags=["a", "b"])
    return rows


def jsonl_line(row: dict) -> bytes:
    return json.dumps(row, ensure_ascii=False).encode()


def bad_lines() -> list[tuple[bytes, str | None, str]]:
    """(line, id reported or None, what the reason must say)."""
    img = '"image": "images/p0.png"'
    return [
        (b'{"id": "nan", %s, "weight": NaN}' % img.encode(), "nan", "weight: nan is not a finite"),
        (
            b'{"id": "inf", %s, "specs": {"dims": [1, Infinity]}}' % img.encode(),
            "inf",
            "specs.dims[1]: inf is not a finite",
        ),
        (b'{"id": "ninf", %s, "x": [[-Infinity]]}' % img.encode(), "ninf", "x[0][0]: -inf"),
        (b'{"id": "e400", %s, "x": 1e400}' % img.encode(), "e400", "x: inf is not a finite"),
        (
            b'{"id": "big", %s, "stock": %d}' % (img.encode(), 2**63),
            "big",
            "stock: 9223372036854775808 is outside the 64-bit integer range",
        ),
        (
            b'{"id": "small", %s, "x": {"y": %d}}' % (img.encode(), -(2**63) - 1),
            "small",
            "x.y: -9223372036854775809 is outside the 64-bit integer range",
        ),
        (b'{"id": "boolprice", %s, "price": true}' % img.encode(), "boolprice", "price must be"),
        (
            b'{"id": "deep", %s, "x": %s}' % (img.encode(), json.dumps(nested(33)).encode()),
            "deep",
            f"nested more than {MAX_NESTING} levels deep",
        ),
        (
            b'{"id": "bytes", %s, "title": "caf\xe9"}' % img.encode(),
            "bytes",
            "title: text is not valid UTF-8 (byte 0xe9",
        ),
        (
            b'{"id": "surrogate", %s, "title": "\\ud800"}' % img.encode(),
            "surrogate",
            "lone surrogate",
        ),
        (
            b'{"id": "badkey", %s, "caf\xe9": 1}' % img.encode(),
            "badkey",
            "field name is not valid UTF-8",
        ),
        # Python reads "1_000" as 1000; no spreadsheet writes it, and "12,50" fails too
        (b'{"id": "underscore", %s, "price": "1_000"}' % img.encode(), "underscore", "'1_000'"),
        # a key twice: the parser would keep the last value silently (which id was meant?)
        (
            b'{"id": "twice", "id": "other", %s}' % img.encode(),
            None,
            "duplicate key 'id' in one object",
        ),
        (
            b'{"id": "nested-twice", %s, "specs": {"a": 1, "a": 2}}' % img.encode(),
            None,
            "duplicate key 'a' in one object",
        ),
        # Too deep for the JSON parser itself (RecursionError): its id cannot be read.
        (b'{"id": "abyss", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", None, "nested too"),
        (b'\xff{"id": "garbled"}', None, "not valid UTF-8 (byte 0xff"),
    ]


def stored_payloads(backend, collection) -> dict[str, dict]:  # noqa: F811
    """Every stored product's whole payload, by product id."""
    ids = [pid for pid, _ in backend.scroll_payload(collection, ["product_id"])]
    return {sp.payload["product_id"]: sp.payload for sp in backend.retrieve(collection, ids)}


def test_each_bad_value_fails_its_row_and_every_good_product_is_stored(
    tmp_path,
    backend,  # noqa: F811
    collection_name,  # noqa: F811
):
    rows = good_rows()
    write_catalog(tmp_path, rows)  # the images
    bad = bad_lines()
    lines = [BOM + jsonl_line(rows[0])] + [b for b, _, _ in bad] + [jsonl_line(r) for r in rows[1:]]
    cat = tmp_path / "catalog.jsonl"
    cat.write_bytes(b"\n".join(lines) + b"\n")
    bundle = fake_bundle()

    report = Syncer(backend, bundle, collection_name).sync(cat)

    assert report.added == len(rows)
    stored = stored_payloads(backend, collection_name)
    assert set(stored) == {r["id"] for r in rows}
    for r in rows:  # stored exactly, limits included
        for key, value in r.items():
            if key != "id":
                assert stored[r["id"]][key] == value, (r["id"], key)
    by_id = {f.id: f.reason for f in report.failed if f.id is not None}
    no_id = [f.reason for f in report.failed if f.id is None]
    assert len(report.failed) == len(bad)
    for n, (_, pid, says) in enumerate(bad, start=2):  # line 1 is the first good row
        reason = by_id[pid] if pid is not None else next(r for r in no_id if says in r)
        assert reason.startswith(f"line {n}: ") and says in reason, reason
    assert not report.ok

    # Later runs go on: nothing to do for the good products, the same rows reported.
    again = Syncer(backend, bundle, collection_name).sync(cat)
    assert (again.added, again.updated, again.unchanged) == (0, 0, len(rows))
    assert sorted(f.reason for f in again.failed) == sorted(f.reason for f in report.failed)
    # The rows without a readable id might be stored products: nothing is deleted meanwhile.
    assert again.deleted == 0 and "no readable id" in again.deletes_skipped


def test_a_product_that_turns_bad_keeps_its_stored_version_and_the_sync_goes_on(
    tmp_path,
    backend,  # noqa: F811
    collection_name,  # noqa: F811
):
    rows = product_rows(4)
    cat = write_catalog(tmp_path, rows)
    bundle = fake_bundle()
    Syncer(backend, bundle, collection_name).sync(cat)

    lines = [jsonl_line(r) for r in rows[:3]]  # p3 left the catalog
    lines[1] = lines[1][:-1] + b', "weight": NaN}'  # p1 now holds a NaN
    cat.write_bytes(b"\n".join(lines) + b"\n")
    report = Syncer(backend, bundle, collection_name).sync(cat)
    assert [(f.id, f.reason) for f in report.failed] == [
        ("p1", "line 2: weight: nan is not a finite number (NaN and Infinity cannot be stored)")
    ]
    assert report.deleted == 1  # p3: the bad row has a readable id, so deletes still run
    stored = stored_payloads(backend, collection_name)
    assert set(stored) == {"p0", "p1", "p2"} and "weight" not in stored["p1"]

    lines[1] = lines[1].replace(b"NaN", b"1.5")  # fixed
    cat.write_bytes(b"\n".join(lines) + b"\n")
    fixed = Syncer(backend, bundle, collection_name).sync(cat)
    assert fixed.ok and fixed.updated == 1
    assert stored_payloads(backend, collection_name)["p1"]["weight"] == 1.5


def test_csv_bad_cells_fail_their_row_only(tmp_path, backend, collection_name):  # noqa: F811
    rows = product_rows(3)
    write_catalog(tmp_path, rows)  # the images
    records = [
        b"id,title,image,price,note",
        b"p0,first,images/p0.png,10,nan",  # "nan" / "inf" in a text column stay text
        b"p1,caf\xe9,images/p1.png,11,x",
        b"p2,third,images/p2.png,12,inf",
        b"badprice,x,images/p0.png,inf,x",
        b"nanprice,x,images/p0.png,NaN,x",
        b"boolish,x,images/p0.png,true,x",
        b"huge,x,images/p0.png,1," + b"y" * 200_000,  # over the csv module's field limit
        b"p3,fourth,images/p1.png,13,ok",
    ]
    cat = tmp_path / "catalog.csv"
    cat.write_bytes(BOM + b"\r\n".join(records) + b"\r\n")  # a spreadsheet export

    report = Syncer(backend, fake_bundle(), collection_name).sync(cat)

    stored = stored_payloads(backend, collection_name)
    assert set(stored) == {"p0", "p2", "p3"} and report.added == 3
    assert stored["p0"]["note"] == "nan" and stored["p2"]["note"] == "inf"
    assert stored["p0"]["price"] == 10.0
    failed = {f.id: f.reason for f in report.failed}
    assert failed == {
        "p1": "line 3: title: text is not valid UTF-8 (byte 0xe9 at character 4)",
        "badprice": "line 5: price: price must be a finite number, got 'inf'",
        "nanprice": "line 6: price: price must be a finite number, got 'NaN'",
        "boolish": "line 7: price: price must be a number, got 'true'",
        None: "line 8: unreadable CSV record (field larger than field limit (131072))",
    }
    again = Syncer(backend, fake_bundle(), collection_name).sync(cat)
    assert again.unchanged == 3 and len(again.failed) == len(report.failed)


def test_json_array_bad_item_fails_alone_and_an_unparsable_file_changes_nothing(
    tmp_path,
    backend,  # noqa: F811
    collection_name,  # noqa: F811
):
    rows = product_rows(3)
    write_catalog(tmp_path, rows)  # the images
    items = [json.dumps(r).encode() for r in rows]
    items[1] = items[1][:-1] + b', "weight": Infinity}'
    cat = tmp_path / "catalog.json"
    cat.write_bytes(BOM + b"[" + b",\n".join(items) + b"]")
    report = Syncer(backend, fake_bundle(), collection_name).sync(cat)
    assert set(stored_payloads(backend, collection_name)) == {"p0", "p2"}
    assert [(f.id, f.reason) for f in report.failed] == [
        ("p1", "item 2: weight: inf is not a finite number (NaN and Infinity cannot be stored)")
    ]

    # Not JSON as a whole (a stray byte between items): nothing synced, nothing deleted.
    cat.write_bytes(b"[" + items[0] + b",\xff\n" + items[2] + b"]")
    with pytest.raises(CatalogError, match=r"line 1: not valid UTF-8 \(byte 0xff"):
        Syncer(backend, fake_bundle(), collection_name).sync(cat)
    cat.write_bytes(b"[" * 100_000)
    with pytest.raises(CatalogError, match="nested too deeply"):
        Syncer(backend, fake_bundle(), collection_name).sync(cat)
    assert set(stored_payloads(backend, collection_name)) == {"p0", "p2"}


@pytest.mark.parametrize("name", ["c.jsonl", "c.json", "c.csv"])
def test_a_byte_order_mark_reads_normally(tmp_path, name):
    path = tmp_path / name
    if name == "c.csv":
        path.write_bytes(BOM + b"id,title\r\nA1,first\r\n")
    elif name == "c.json":
        path.write_bytes(BOM + b'[{"id": "A1", "title": "first"}]')
    else:
        path.write_bytes(BOM + b'{"id": "A1", "title": "first"}\n')
    cat = read_catalog(path)
    assert cat.invalid == []
    assert [(p.id, p.title) for p in cat.products] == [("A1", "first")]
    assert point_id(cat.products[0].id) == point_id("A1")


def test_cli_sync_names_each_bad_row_exits_1_and_prints_no_traceback(
    cli,  # noqa: F811
    tmp_path: Path,
):
    shop = tmp_path / "shop"
    rows = product_rows(3)
    write_catalog(shop, rows)
    lines = [jsonl_line(r) for r in rows] + [
        b'{"id": "nan", "image": "images/p0.png", "weight": NaN}',
        b'{"id": "big", "image": "images/p0.png", "stock": %d}' % 2**64,
        b'{"id": "bytes", "image": "images/p0.png", "title": "\xff"}',
        b'{"id": "abyss", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    ]
    cat = shop / "catalog.jsonl"
    cat.write_bytes(b"\n".join(lines) + b"\n")

    res = cli("sync", str(cat), "--json")
    assert res.exit_code == 1, res.output
    report = json.loads(res.output)  # the whole output is the report: no traceback
    assert report["added"] == 3
    failed = {f["id"]: f["reason"] for f in report["failed"]}
    assert set(failed) == {"nan", "big", "bytes", None}
    assert failed["nan"].startswith("line 4: weight: nan is not a finite number")
    assert failed["big"].startswith("line 5: stock: 18446744073709551616 is outside")
    assert failed["bytes"].startswith("line 6: title: text is not valid UTF-8 (byte 0xff")
    assert failed[None] == "line 7: invalid JSON (nested too deeply to read)"

    table = cli("sync", str(cat))  # and again, as a table: the run goes on
    assert table.exit_code == 1
    assert "Traceback" not in table.output
    for name in ("nan", "big", "bytes", "line 7"):
        assert name in table.output

    broken = shop / "catalog.json"
    broken.write_bytes(b"[" * 100_000)
    res = cli("sync", str(broken))
    assert res.exit_code == 2 and "nested too deeply" in res.output
    assert "Traceback" not in res.output
