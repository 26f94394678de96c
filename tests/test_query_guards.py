"""Query input that must never reach the engine: it is refused as a usage error instead.

Qdrant Edge panics on a NaN range bound; infinite bounds and overflowing weights are never
what a shopper meant. Each case runs on every backend and must leave the searcher working.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from qdrant_client import models

from qdrant_mm.errors import QueryError, WeightsError
from qdrant_mm.filters import MAX_FILTER_DEPTH
from qdrant_mm.search import Searcher
from qdrant_mm.sync import Syncer
from qdrant_mm.weights import Weights
from tests.backends import backend, collection_name  # noqa: F401
from tests.fakes import fake_bundle
from tests.helpers import product_rows, write_catalog


@pytest.fixture
def searcher(tmp_path, backend, collection_name):  # noqa: F811
    bundle = fake_bundle()
    Syncer(backend, bundle, collection_name).sync(write_catalog(tmp_path, product_rows(8)))
    return Searcher(backend, bundle, collection_name)


def price(**bounds):
    return models.Filter(must=[models.FieldCondition(key="price", range=models.Range(**bounds))])


@pytest.mark.parametrize(
    "flt",
    [
        "price>=nan",
        "price<inf",
        "price>-inf",
        "price<=NaN",
        "price=nan",
        ["category=shoes", "price>=1e999"],
        {"must": [{"key": "price", "range": {"gte": float("nan")}}]},
        price(gte=float("nan")),
        price(lt=float("inf")),
        models.Filter(should=[models.Filter(must_not=[price(gt=float("-inf"))])]),
        models.Filter(
            must=[
                models.FieldCondition(
                    key="loc",
                    geo_radius=models.GeoRadius(
                        center=models.GeoPoint(lat=0, lon=0), radius=float("nan")
                    ),
                )
            ]
        ),
    ],
)
def test_non_finite_filter_numbers_are_refused(searcher, flt):
    with pytest.raises(QueryError, match="finite"):
        searcher.search("product 1", filter=flt)
    assert searcher.search("product 1", filter="price>=10", limit=3).hits


def test_filter_given_from_python_to_search_vectors_is_checked(searcher):
    q = {ch: np.ones(d, dtype=np.float32) / np.sqrt(d) for ch, d in searcher.models.dims().items()}
    with pytest.raises(QueryError, match="filter on price: range: gte must be a finite number"):
        searcher.search_vectors(q, Weights.parse("1,1,1"), filter=price(gte=float("nan")))


def test_too_deeply_nested_filter_is_refused(searcher):
    leaf = models.Filter(
        must=[models.FieldCondition(key="category", match=models.MatchValue(value="shoes"))]
    )
    deep = functools.reduce(lambda f, _: models.Filter(must=[f]), range(5000), leaf)
    with pytest.raises(QueryError, match=f"more than {MAX_FILTER_DEPTH} levels"):
        searcher.search("product 1", filter=deep)
    as_dict = {"must": [{"key": "category", "match": {"value": "shoes"}}]}
    for _ in range(3000):
        as_dict = {"must": [as_dict]}
    with pytest.raises(QueryError, match="levels"):
        searcher.search("product 1", filter=as_dict)
    shallow = functools.reduce(lambda f, _: models.Filter(must=[f]), range(5), leaf)
    assert all(h.payload["category"] == "shoes" for h in searcher.search("x", filter=shallow).hits)


@pytest.mark.parametrize(
    "value", ["", "x" * 100_000, "\u0000", "é" * 1000], ids=["empty", "long", "nul", "accents"]
)
def test_odd_match_strings_are_answered(searcher, value):
    flt = models.Filter(
        must=[models.FieldCondition(key="category", match=models.MatchValue(value=value))]
    )
    assert searcher.search("product 1", filter=flt).hits == []
    if value:
        assert searcher.search("product 1", filter=[f"brand={value}"]).hits == []
    assert searcher.search("product 1", limit=3).hits


@pytest.mark.parametrize("limit, offset", [(10**12, 0), (0, 0), (10, 10**15), (10, -1)])
def test_huge_or_negative_paging_is_refused(searcher, limit, offset):
    with pytest.raises(QueryError, match="limit|offset"):
        searcher.search("product 1", limit=limit, offset=offset)


def test_huge_weights_are_normalised_safely(searcher):
    w = Weights.parse("1e308,1e308,1e308")
    assert w.as_dict() == pytest.approx({"blip": 1 / 3, "clip": 1 / 3, "interrogator": 1 / 3})
    assert Weights.parse("5e-324,5e-324,0").as_dict() == {
        "blip": 0.5,
        "clip": 0.5,
        "interrogator": 0.0,
    }
    assert Weights.parse("1e308,1e308,0").as_dict() == {"blip": 0.5, "clip": 0.5, "interrogator": 0}
    res = searcher.search("product 1", weights="1e308,1e308,1e308", limit=4)
    plain = searcher.search("product 1", weights="1,1,1", limit=4)
    assert [h.id for h in res.hits] == [h.id for h in plain.hits]
    assert all(np.isfinite(h.score) for h in res.hits)


@pytest.mark.parametrize("bad", ["1e309,1,1", "inf,0,0", "-1e308,1,1"])
def test_overflowing_weights_are_refused(bad):
    with pytest.raises(WeightsError, match="finite|>= 0"):
        Weights.parse(bad)


@pytest.mark.parametrize(
    "bad",
    [{"blip": None}, {"clip": [1]}, {"blip": True}, [1, None, 2], {"blip": {"x": 1}}],
)
def test_weights_that_are_not_numbers_are_a_weights_error(bad):
    """JSON weights over HTTP arrive as these: each is a usage error, never a TypeError."""
    with pytest.raises(WeightsError, match="must be a number"):
        Weights.parse(bad)


def test_an_integer_beyond_float_range_is_refused_not_overflowed():
    with pytest.raises(WeightsError, match="finite"):
        Weights.parse({"blip": 10**400, "clip": 1})


@pytest.mark.parametrize(
    ("flt", "message"),
    [
        ({"must": [{"key": "images", "values_count": {"gt": -1}}]}, "gt is a count"),
        (
            {"min_should": {"conditions": [{"key": "price", "range": {"gt": 1}}], "min_count": -5}},
            "min_count is a count",
        ),
        (
            {
                "min_should": {
                    "conditions": [{"key": "price", "range": {"gt": 1}}],
                    "min_count": 10**20,
                }
            },
            "min_count is out of range",
        ),
        ({"must": [{"key": "brand", "match": {"value": 10**30}}]}, "value is out of range"),
        ({"must": [{"key": "brand", "match": {"any": [1, -(2**70)]}}]}, "out of range"),
    ],
    ids=["negative-count", "negative-min-count", "huge-min-count", "huge-match", "huge-any"],
)
def test_filter_integers_the_engine_cannot_hold_are_refused(searcher, flt, message):
    """The engine reads 64-bit integers and unsigned counts: anything else overflowed in it."""
    with pytest.raises(QueryError, match=message):
        searcher.search("product 1", filter=flt)
    assert searcher.search("product 1", limit=3).hits


def test_filter_strings_read_alike_in_every_form(searcher):
    """One string or a list of strings, each holding conditions separated by "," or ";" (the
    CLI's --filter, the service's filter and the Python API)."""
    one = searcher.search("product 1", filter="category=shoes,price<=14", limit=20)
    listed = searcher.search("product 1", filter=["category=shoes;price<=14"], limit=20)
    split = searcher.search("product 1", filter=["category=shoes", "price<=14"], limit=20)
    assert [h.id for h in one.hits] == [h.id for h in listed.hits] == [h.id for h in split.hits]
    assert one.hits and all(
        h.payload["category"] == "shoes" and h.payload["price"] <= 14 for h in one.hits
    )
    with pytest.raises(QueryError, match="'==' is not an operator"):
        searcher.search("product 1", filter="category==shoes")
    with pytest.raises(QueryError, match="'=<' is not an operator"):
        searcher.search("product 1", filter=["price=<5"])
    with pytest.raises(QueryError, match="condition strings"):
        searcher.search("product 1", filter=[1, None])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"query": "boot \ud800"}, "not valid Unicode: lone surrogate \\\\ud800 at character 6"),
        ({"query": "boot \udcff"}, "not valid Unicode: byte 0xff at character 6"),
        ({"query": "x", "profile": 5}, "profile must be a profile name"),
        ({"query": "x", "calibrate": "no"}, "calibrate must be True, False or None"),
        ({"query": b"boot"}, "query must be a text"),
    ],
    ids=["surrogate", "undecodable-byte", "profile-int", "calibrate-str", "query-bytes"],
)
def test_query_arguments_of_the_wrong_kind_are_refused(searcher, kwargs, message):
    """A lone surrogate (from a JSON escape, or a byte the command line could not decode)
    crashed the tokenizers; a wrong type was a TypeError deep inside."""
    with pytest.raises(QueryError, match=message):
        searcher.search(**kwargs)
    assert searcher.search("boot", limit=3).hits
