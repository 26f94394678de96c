"""Live weight profiles: stored with the collection, seen by every client on its next query."""

from __future__ import annotations

import numpy as np
import pytest

from qdrant_mm.errors import ConfigError, QueryError
from qdrant_mm.profiles import ProfileStore
from qdrant_mm.search import Searcher
from qdrant_mm.sync import Syncer
from qdrant_mm.weights import Weights
from tests.backends import backend, collection_name  # noqa: F401
from tests.fakes import fake_bundle
from tests.helpers import product_rows, write_catalog


@pytest.fixture
def two_clients(tmp_path, backend, collection_name):  # noqa: F811
    bundle = fake_bundle()
    Syncer(backend, bundle, collection_name).sync(write_catalog(tmp_path, product_rows(30)))
    return (
        Searcher(backend, bundle, collection_name),
        Searcher(backend, bundle, collection_name),
    )


def test_profile_set_by_one_client_is_used_by_the_others_next_search(two_clients):
    admin, service = two_clients
    plain = service.search("product 7", limit=10)
    assert plain.profile is None
    admin.profiles.set("default", Weights.parse("0,0,1"))
    after = service.search("product 7", limit=10)
    assert after.profile == "default" and after.weights == Weights.parse("0,0,1")
    assert all(h.scores["blip"] is None for h in after.hits)
    assert [h.id for h in after.hits] != [h.id for h in plain.hits]
    admin.profiles.set("default", Weights.parse("1,0,0"))
    again = service.search("product 7", limit=10)
    assert again.weights == Weights.parse("1,0,0")
    explicit = service.search("product 7", weights="0,1,0", limit=10)
    assert explicit.profile is None and explicit.weights.clip == 1


def test_named_profile_list_and_delete(two_clients):
    admin, service = two_clients
    admin.profiles.set("summer", Weights.parse("2,1,1"), calibrate=False)
    admin.profiles.set("winter", Weights.parse("1,1,2"))
    assert [p.name for p in service.profiles.list()] == ["summer", "winter"]
    assert service.search("x", profile="summer").weights.blip == 0.5
    assert admin.profiles.delete("summer") and not admin.profiles.delete("summer")
    with pytest.raises(QueryError, match="no weight profile 'summer'.*winter"):
        service.search("x", profile="summer")


def test_profiles_are_per_collection(backend):  # noqa: F811
    a, b = ProfileStore(backend, "shop_a"), ProfileStore(backend, "shop_b")
    a.set("default", Weights.parse("1,0,0"))
    assert b.get("default") is None
    assert np.isclose(a.get("default").weights.blip, 1.0)


def test_bad_profile_name_is_refused(backend):  # noqa: F811
    with pytest.raises(ConfigError, match="invalid profile name"):
        ProfileStore(backend, "c").set("../etc", Weights.parse("1,1,1"))
