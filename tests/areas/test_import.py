"""Importing areas from GeoJSON: datums, boundary versions, and bad files that write nothing."""

from __future__ import annotations

import json

import pytest
import shapely
from factories import C1, C2, G1, G2, G3, T1, make_person, make_tree
from shapely.geometry import box, mapping

from grid_backend.areas import controllers
from grid_backend.areas.services import import_geojson
from grid_backend.areas.tables import Area, AreaBoundary
from grid_backend.core import geo
from grid_backend.core.errors import DomainError
from grid_backend.core.tables import AuditEntry

# a new district east of the toy tree, with one township, community and grid
D3_BOUNDS = (106.70, 29.50, 106.80, 29.60)


def polygon(bounds: tuple[float, float, float, float]) -> dict:
    return json.loads(json.dumps(mapping(box(*bounds))))  # tuples → lists, as a file has them


def feature(code, level, parent, geometry=None, name="新区域", **props) -> dict:
    return {
        "type": "Feature",
        "geometry": polygon(D3_BOUNDS) if geometry is None else geometry,
        "properties": {"code": code, "name": name, "level": level, "parent_code": parent, **props},
    }


def collection(*features) -> dict:
    return {"type": "FeatureCollection", "features": list(features)}


def new_district(bounds=D3_BOUNDS) -> list[dict]:
    geometry = polygon(bounds)
    return [
        feature("500105", "district", "500000", geometry, name="江北区"),
        feature("500105001", "township", "500105", geometry, name="观音桥街道"),
        feature("500105001001", "community", "500105001", geometry, name="建新社区"),
        feature("500105001001001", "grid", "500105001001", geometry, name="第一网格"),
    ]


async def counts() -> tuple[int, int, int]:
    """Areas, boundary versions and audit entries: an import that fails must change none."""
    return (
        await Area.count().run(),
        await AreaBoundary.count().run(),
        await AuditEntry.count().run(),
    )


async def current_boundaries(code: str) -> list[dict]:
    return (
        await AreaBoundary.select()
        .where(AreaBoundary.area.code == code)
        .order_by(AreaBoundary.id)
        .run()
    )


async def locate_code(client, headers, lat, lng) -> str:
    r = await client.get("/api/v1/locate", params={"lat": lat, "lng": lng}, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["grid"]["code"]


@pytest.fixture
async def admin(db):
    await make_tree()
    return await make_person(("admin", "500000"))


async def test_only_an_admin_may_import(client, admin):
    body = collection(*new_district())
    r = await client.post("/api/v1/areas/import", json=body)
    assert r.status_code == 401
    people = [
        await make_person(*duties)
        for duties in [
            (),
            (("dispatcher", T1),),
            (("supervisor", "500103"),),
            (("grid_leader", G1),),
        ]
    ]
    before = await counts()
    for person in people:
        r = await client.post("/api/v1/areas/import", json=body, headers=person.headers)
        assert r.status_code == 403, person
        assert r.json()["code"] == "forbidden"
    assert await counts() == before

    r = await client.post("/api/v1/areas/import", json=body, headers=admin.headers)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "created": 4,
        "updated": 0,
        "boundaries_changed": 0,
        "codes": ["500105", "500105001", "500105001001", "500105001001001"],
    }
    grid = (
        await Area.select(Area.path, Area.parent.code.as_alias("parent_code"))
        .where(Area.code == "500105001001001")
        .first()
        .run()
    )
    assert grid == {
        "path": "500000/500105/500105001/500105001001/500105001001001/",
        "parent_code": "500105001001",
    }
    entries = (
        await AuditEntry.select()
        .where(AuditEntry.action == "areas.import")
        .order_by(AuditEntry.id)
        .output(load_json=True)
        .run()
    )
    assert [e["actor_id"] for e in entries] == [None, admin.id]  # make_tree's, then this one
    detail = entries[-1]["detail"]
    assert (detail["created"], detail["updated"], detail["boundaries_changed"]) == (4, 0, 0)


async def test_a_district_without_parent_code_goes_under_the_city(client, admin):
    district = new_district()[0]
    district["properties"].pop("parent_code")
    r = await client.post("/api/v1/areas/import", json=collection(district), headers=admin.headers)
    assert r.status_code == 200, r.text
    row = await Area.select(Area.path).where(Area.code == "500105").first().run()
    assert row["path"] == "500000/500105/"


@pytest.mark.parametrize(
    ("datum", "to_wgs84"), [("gcj02", geo.gcj02_to_wgs84), ("bd09", geo.bd09_to_wgs84)]
)
async def test_a_shifted_datum_is_stored_in_wgs84(client, admin, datum, to_wgs84):
    features = new_district()
    r = await client.post(
        "/api/v1/areas/import",
        json=collection(*features),
        params={"datum": datum},
        headers=admin.headers,
    )
    assert r.status_code == 200, r.text
    (row,) = await current_boundaries("500105001001001")
    assert row["source_datum"] == datum
    stored = shapely.get_coordinates(shapely.from_wkb(bytes(row["wkb"])))
    sent = features[-1]["geometry"]["coordinates"][0]
    assert len(stored) == len(sent)
    for (lng, lat), (slng, slat) in zip(stored, sent, strict=True):
        assert (lng, lat) == pytest.approx(to_wgs84(slng, slat), abs=1e-9)
        assert geo.distance_m(lng, lat, slng, slat) > 100  # it really moved
    expected = geo.transform_geometry(box(*D3_BOUNDS), datum, "wgs84").bounds
    stored_box = [row["min_lng"], row["min_lat"], row["max_lng"], row["max_lat"]]
    assert stored_box == pytest.approx(list(expected), abs=1e-9)


async def test_the_service_imports_gcj02_the_same_way(admin):
    features = new_district()
    result = await import_geojson(collection=collection(*features), datum="gcj02", actor_id=None)
    assert (result.created, result.boundaries_changed) == (4, 0)
    (row,) = await current_boundaries("500105")
    stored = shapely.from_wkb(bytes(row["wkb"]))
    expected = geo.transform_geometry(box(*D3_BOUNDS), "gcj02", "wgs84")
    assert stored.equals_exact(expected, 1e-9)


async def test_a_changed_boundary_is_a_new_version_and_locate_follows(client, admin):
    resident = await make_person()
    # the point is in G2 until G1 grows north to 29.56
    assert await locate_code(client, resident.headers, 29.555, 106.52) == G2
    body = collection(
        feature(G1, "grid", C1, polygon((106.50, 29.50, 106.55, 29.56)), name="第一网格"),
        feature(G2, "grid", C1, polygon((106.50, 29.56, 106.55, 29.60)), name="第二网格"),
    )
    r = await client.post("/api/v1/areas/import", json=body, headers=admin.headers)
    assert r.status_code == 200, r.text
    assert r.json()["created"] == 0
    assert r.json()["updated"] == 2
    assert r.json()["boundaries_changed"] == 2

    changes = [
        (G1, (106.50, 29.50, 106.55, 29.55), (106.50, 29.50, 106.55, 29.56)),
        (G2, (106.50, 29.55, 106.55, 29.60), (106.50, 29.56, 106.55, 29.60)),
    ]
    for code, was, now in changes:
        old, new = await current_boundaries(code)  # one current version, the old one kept
        assert old["valid_to"] is not None
        assert new["valid_to"] is None
        assert old["valid_to"] == new["valid_from"]
        assert shapely.from_wkb(bytes(old["wkb"])).equals(box(*was))
        assert shapely.from_wkb(bytes(new["wkb"])).equals(box(*now))
    assert await locate_code(client, resident.headers, 29.555, 106.52) == G1
    assert await locate_code(client, resident.headers, 29.565, 106.52) == G2

    g1 = await Area.select(Area.id).where(Area.code == G1).first().run()
    detail = (await client.get(f"/api/v1/areas/{g1['id']}", headers=resident.headers)).json()
    assert detail["bbox"] == pytest.approx([106.50, 29.50, 106.55, 29.56])

    # the same file again changes nothing
    r = await client.post("/api/v1/areas/import", json=body, headers=admin.headers)
    assert r.json()["boundaries_changed"] == 0
    assert len(await current_boundaries(G1)) == 2


async def test_changing_only_names_keeps_the_boundary_version(client, admin):
    body = collection(
        feature(
            G3,
            "grid",
            C2,
            polygon((106.55, 29.50, 106.60, 29.60)),
            name="朝东第一网格",
            households=512,
        )
    )
    r = await client.post("/api/v1/areas/import", json=body, headers=admin.headers)
    assert r.status_code == 200, r.text
    assert (r.json()["updated"], r.json()["boundaries_changed"]) == (1, 0)
    assert len(await current_boundaries(G3)) == 1
    row = await Area.select(Area.name, Area.households).where(Area.code == G3).first().run()
    assert row == {"name": "朝东第一网格", "households": 512}


BOW_TIE = {
    "type": "Polygon",
    "coordinates": [
        [[106.70, 29.50], [106.80, 29.60], [106.80, 29.50], [106.70, 29.60], [106.70, 29.50]]
    ],
}


def _one(geometry=None, **props) -> dict:
    """A file with one new district, its geometry or properties replaced."""
    district = new_district()[0]
    if geometry is not None:
        district["geometry"] = geometry
    district["properties"].update(props)
    return collection(district)


BAD_FILES = {
    "not a FeatureCollection": (
        {"type": "Feature", "geometry": polygon(D3_BOUNDS), "properties": {}},
        "type",
        "geojson_invalid",
    ),
    "a JSON array": ([new_district()[0]], "type", "geojson_invalid"),
    "no features member": ({"type": "FeatureCollection"}, "features", "geojson_invalid"),
    "empty features": (collection(), "features", "geojson_invalid"),
    "a feature that is not a Feature": (
        collection({"type": "Polygon"}),
        "features[0]",
        "geojson_invalid",
    ),
    "a Point instead of a Polygon": (
        _one({"type": "Point", "coordinates": [106.75, 29.55]}),
        "features[0].geometry",
        "geometry_invalid",
    ),
    "no geometry": (
        collection(new_district()[0] | {"geometry": None}),
        "features[0].geometry",
        "geometry_invalid",
    ),
    "a self-intersecting bow-tie": (_one(BOW_TIE), "features[0].geometry", "geometry_invalid"),
    "an empty polygon": (
        _one({"type": "Polygon", "coordinates": []}),
        "features[0].geometry",
        "geometry_invalid",
    ),
    "a ring of two points": (
        _one({"type": "Polygon", "coordinates": [[[106.7, 29.5], [106.8, 29.6]]]}),
        "features[0].geometry",
        "geometry_invalid",
    ),
    "latitude 95": (
        _one(
            {
                "type": "Polygon",
                "coordinates": [[[106.7, 29.5], [106.8, 29.5], [106.8, 95], [106.7, 29.5]]],
            }
        ),
        "features[0].geometry",
        "coordinates_out_of_range",
    ),
    "numbers as strings": (
        _one(
            {
                "type": "Polygon",
                "coordinates": [
                    [["106.7", "29.5"], ["106.8", "29.5"], ["106.8", "29.6"], ["106.7", "29.5"]]
                ],
            }
        ),
        "features[0].geometry",
        None,
    ),
    "NaN as a string": (
        _one(
            {
                "type": "Polygon",
                "coordinates": [[[106.7, "NaN"], [106.8, 29.5], [106.8, 29.6], [106.7, 29.5]]],
            }
        ),
        "features[0].geometry",
        None,
    ),
    "booleans as numbers": (
        _one(
            {
                "type": "Polygon",
                "coordinates": [[[True, True], [True, False], [False, False], [True, True]]],
            }
        ),
        "features[0].geometry",
        None,
    ),
    "a code that is not digits": (_one(code="D-3"), "features[0].properties.code", None),
    "an unknown level": (_one(level="province"), "features[0].properties.level", None),
    "negative households": (_one(households=-5), "features[0].properties.households", None),
    "an unknown parent code": (
        _one(parent_code="500999"),
        "features[0].properties.parent_code",
        "area_code_unknown",
    ),
    "a grid directly under a township": (
        collection(feature("500103001009", "grid", T1, polygon((106.50, 29.50, 106.51, 29.51)))),
        "features[0].properties.parent_code",
        "area_tree_invalid",
    ),
    "the same code twice": (
        collection(*new_district(), new_district()[1]),
        "features[4].properties.code",
        None,
    ),
    "a cycle": (
        collection(
            feature("500105001001", "community", "500105001002"),
            feature("500105001002", "community", "500105001001"),
        ),
        "features[0].properties.parent_code",
        "area_tree_invalid",
    ),
    "moving an area to another parent": (
        collection(feature(G1, "grid", C2, polygon((106.50, 29.50, 106.55, 29.55)))),
        "features[0].properties.parent_code",
        "area_tree_invalid",
    ),
    "changing an area's level": (
        collection(feature(G3, "community", "500103002", polygon((106.55, 29.50, 106.60, 29.60)))),
        "features[0].properties.level",
        "area_tree_invalid",
    ),
    "one bad feature among good ones": (
        collection(
            *new_district()[:3], feature("500105001001001", "grid", "500105001001", BOW_TIE)
        ),
        "features[3].geometry",
        "geometry_invalid",
    ),
    "a file declaring an unknown datum": (_one() | {"datum": "utm50"}, "datum", "datum_unknown"),
}


@pytest.mark.parametrize(("body", "field", "code"), list(BAD_FILES.values()), ids=list(BAD_FILES))
async def test_a_bad_file_names_the_field_and_writes_nothing(client, admin, body, field, code):
    before = await counts()
    r = await client.post("/api/v1/areas/import", json=body, headers=admin.headers)
    assert 400 <= r.status_code < 500, r.text
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert field in [e["field"] for e in problem["errors"]], problem
    if code is not None:
        assert problem["code"] == code
    assert problem["title"]
    assert await counts() == before


async def test_a_bad_file_through_the_service_writes_nothing(admin):
    before = await counts()
    nan = _one(
        {
            "type": "Polygon",
            "coordinates": [[[106.7, float("nan")], [106.8, 29.5], [106.8, 29.6], [106.7, 29.5]]],
        }
    )
    inf = _one(
        {
            "type": "Polygon",
            "coordinates": [[[106.7, 29.5], [float("inf"), 29.5], [106.8, 29.6], [106.7, 29.5]]],
        }
    )
    for body in (nan, inf):
        with pytest.raises(DomainError) as err:
            await import_geojson(collection=body, datum="wgs84", actor_id=None)
        assert err.value.status == 422
        assert err.value.errors[0]["field"] == "features[0].geometry"
    with pytest.raises(DomainError) as err:
        await import_geojson(collection=collection(*new_district()), datum="xyz", actor_id=None)
    assert err.value.code == "datum_unknown"
    assert err.value.errors[0]["field"] == "datum"
    assert await counts() == before


async def test_every_problem_of_a_file_is_listed_at_once(client, admin):
    body = collection(
        feature("500105", "district", "500000", {"type": "Point", "coordinates": [1, 2]}),
        feature("500105001", "township", "500105", BOW_TIE, name=""),
    )
    r = await client.post("/api/v1/areas/import", json=body, headers=admin.headers)
    assert r.status_code == 422
    fields = [e["field"] for e in r.json()["errors"]]
    assert fields == ["features[0].geometry", "features[1].properties.name", "features[1].geometry"]


async def test_not_json_is_a_problem_naming_the_body(client, admin):
    before = await counts()
    r = await client.post(
        "/api/v1/areas/import",
        content=b'{"type": "FeatureCollection", NaN',
        headers=admin.headers | {"content-type": "application/json"},
    )
    assert r.status_code == 422
    assert r.json()["code"] == "geojson_invalid"
    assert [e["field"] for e in r.json()["errors"]] == ["body"]
    assert await counts() == before


async def test_an_unknown_datum_parameter_is_refused(client, admin):
    before = await counts()
    r = await client.post(
        "/api/v1/areas/import",
        json=collection(*new_district()),
        params={"datum": "xyz"},
        headers=admin.headers,
    )
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["datum"]
    assert await counts() == before


async def test_a_body_over_the_limit_is_a_413(client, admin, monkeypatch):
    monkeypatch.setattr(controllers, "MAX_IMPORT_BYTES", 500)
    before = await counts()
    body = json.dumps(collection(*new_district())).encode()
    assert len(body) > 500
    r = await client.post("/api/v1/areas/import", content=body, headers=admin.headers)
    assert r.status_code == 413
    assert r.json()["code"] == "payload_too_large"

    async def chunks():  # streamed without a Content-Length: counted while reading
        for start in range(0, len(body), 200):
            yield body[start : start + 200]

    r = await client.post("/api/v1/areas/import", content=chunks(), headers=admin.headers)
    assert r.status_code == 413
    assert r.json()["code"] == "payload_too_large"
    assert await counts() == before


async def test_bodies_up_to_the_import_limit_are_read(client, admin):
    """A city's boundaries are tens of megabytes: the framework's 10 MB default must not apply."""
    padding = " " * 11_000_000
    body = (json.dumps(collection(*new_district()))[:-1] + padding + "}").encode()
    r = await client.post("/api/v1/areas/import", content=body, headers=admin.headers)
    assert r.status_code == 200, r.text[:300]
    assert r.json()["created"] == 4
