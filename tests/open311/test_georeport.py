"""Open311 GeoReport v2 at /open311/v2: discovery, services, definitions, requests and their
filters, posting with an API key, tokens, the public view's privacy, jurisdiction, errors in
the spec's format, and both formats."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from xml.etree import ElementTree as ET

import pytest
from factories import G1, G3, POINT_IN, T1, Person, World, make_world, usual

from grid_backend.core import clock
from grid_backend.core.security import issue_access_token
from grid_backend.hazards.tables import HazardEvent, HazardReport
from grid_backend.open311.tables import Open311Request
from grid_backend.settings import SettingsError, load_settings
from grid_backend.stats import labels

SCRIPT = "<script>alert('x')</script>&"
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)


@dataclass(kw_only=True)
class O311(World):
    admin: Person
    dispatcher: Person
    resident: Person
    key: str = ""
    client_id: int = 0

    async def issue(self, name: str = "Civic app", **extra: object) -> dict:
        r = await self.client.post(
            "/api/v1/open311-clients", headers=self.admin.headers, json={"name": name, **extra}
        )
        assert r.status_code == 201, r.text
        return r.json()

    async def post(self, fmt: str = "json", key: str | None = None, **fields: str):
        lat, lng = POINT_IN[G1]
        form = {
            "api_key": self.key if key is None else key,
            "service_code": "gas",
            "lat": str(lat),
            "long": str(lng),
            "description": "燃气管道漏气",
            "attribute[reporter_safe]": "true",
            **fields,
        }
        return await self.client.post(f"/open311/v2/requests.{fmt}", data=form)


@pytest.fixture
async def w(client) -> O311:
    world = await make_world(
        O311,
        client,
        now=NOW,
        admin=usual("admin"),
        dispatcher=usual("dispatcher"),
        resident=usual("resident"),
    )
    issued = await world.issue()
    world.key, world.client_id = issued["api_key"], issued["client"]["id"]
    return world


def xml(response) -> ET.Element:
    assert response.headers["content-type"].startswith("text/xml"), response.headers
    assert response.content.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    return ET.fromstring(response.content)  # noqa: S314 - our own answer, in a test


async def test_discovery_in_both_formats(w):
    r = await w.client.get("/open311/v2/discovery.json")
    assert r.status_code == 200
    endpoint = r.json()["endpoints"][0]
    assert endpoint["url"].endswith("/open311/v2")
    assert endpoint["formats"] == ["text/xml", "application/json"]
    root = xml(await w.client.get("/open311/v2/discovery.xml"))
    assert root.tag == "discovery"
    formats = [f.text for f in root.findall("./endpoints/endpoint/formats/format")]
    assert formats == ["text/xml", "application/json"]


async def test_services_are_the_hazard_categories(w):
    found = (await w.client.get("/open311/v2/services.json")).json()
    gas = next(s for s in found if s["service_code"] == "gas")
    assert gas["type"] == "realtime"
    assert gas["metadata"] is True
    assert gas["group"]
    root = xml(await w.client.get("/open311/v2/services.xml"))
    codes = [s.findtext("service_code") for s in root.findall("service")]
    assert "gas" in codes
    assert root.find("service/metadata").text == "true"
    english = await w.client.get("/open311/v2/services.json", headers={"Accept-Language": "en"})
    assert any(s["service_name"] == gas["service_name"] for s in found)
    assert english.json()[0]["service_name"].isascii()


async def test_service_definition_asks_the_app_questions(w):
    found = (await w.client.get("/open311/v2/services/gas.json")).json()
    codes = {a["code"]: a for a in found["attributes"]}
    assert codes["urgent"]["required"] is False
    assert codes["reporter_safe"]["required"] is True
    assert [v["key"] for v in codes["urgent"]["values"]] == ["true", "false"]
    root = xml(await w.client.get("/open311/v2/services/gas.xml"))
    assert root.tag == "service_definition"
    assert len(root.findall("attributes/attribute/values/value")) == 4
    missing = await w.client.get("/open311/v2/services/nothing.json")
    assert missing.status_code == 404
    assert missing.json()[0]["code"] == 404


async def test_post_files_a_case_through_the_app_steps(w):
    r = await w.post(
        description=f"漏气 {SCRIPT}",
        email="a@example.com",
        phone="13800001111",
        first_name="张",
        last_name="三",
        device_id="dev-1",
        account_id="acc-1",
        **{"attribute[urgent]": "true"},
    )
    assert r.status_code == 201, r.text
    answer = r.json()[0]
    case_id = int(answer["service_request_id"])
    case = await HazardReport.objects().get(HazardReport.id == case_id)
    assert case.channel == "open311:civic-app"
    assert case.reporter is None
    assert case.urgent and case.reporter_safe
    assert case.status == "submitted" and case.triage_due_at is not None
    submit = await HazardEvent.objects().get(
        (HazardEvent.report == case_id) & (HazardEvent.action == "submit")
    )
    assert submit.note == "Open311: Civic app"
    # the urgent chain ran as for an app report: the township's dispatcher was alerted
    alert = (
        await HazardEvent.select(HazardEvent.data)
        .where((HazardEvent.report == case_id) & (HazardEvent.action == "urgent_alert"))
        .output(load_json=True)
        .first()
    )
    assert w.dispatcher.id in alert["data"]["dispatchers"]
    stored = await Open311Request.objects().get(Open311Request.report == case_id)
    assert stored.phone == "13800001111" and stored.email == "a@example.com"
    # the token finds it
    t = await w.client.get(f"/open311/v2/tokens/{answer['token']}.json")
    assert t.json() == [{"service_request_id": str(case_id), "token": answer["token"]}]
    # the staff case view shows the channel and the client on the timeline
    staff = (await w.client.get(f"/api/v1/reports/{case_id}", headers=w.dispatcher.headers)).json()
    assert staff["channel"] == "open311:civic-app"
    assert staff["timeline"][0]["note"] == "Open311: Civic app"


async def test_a_second_post_nearby_is_told_of_the_possible_duplicate(w):
    first = (await w.post()).json()[0]
    r = await w.post(fmt="xml", description="又漏气了")
    assert r.status_code == 201
    root = xml(r)
    assert first["service_request_id"] in root.findtext("request/service_notice")


async def test_public_reads_hide_the_reporter_round_and_skip_internal_cases(w):
    r = await w.post(
        description=SCRIPT,
        phone="13800001111",
        email="secret@example.com",
        first_name="秘密",
        lat="29.521234",
        long="106.523456",
    )
    case_id = r.json()[0]["service_request_id"]
    one = (await w.client.get(f"/open311/v2/requests/{case_id}.json")).json()[0]
    assert one["lat"] == 29.521 and one["long"] == 106.523
    assert one["status"] == "open"
    assert one["agency_responsible"] == "解放碑街道"
    assert one["expected_datetime"] is not None
    assert one["description"] == SCRIPT
    text = (await w.client.get(f"/open311/v2/requests/{case_id}.xml")).text
    for secret in ("13800001111", "secret@example.com", "秘密", "<script>"):
        assert secret not in text
    assert "&lt;script&gt;alert('x')&lt;/script&gt;&amp;" in text
    root = xml(await w.client.get(f"/open311/v2/requests/{case_id}.xml"))
    assert root.findtext("request/description") == SCRIPT
    # the office keeps it internal: gone from every public read
    put = await w.client.put(
        f"/api/v1/reports/{case_id}/internal",
        headers=w.dispatcher.headers,
        json={"internal": True},
    )
    assert put.status_code == 200, put.text
    assert (await w.client.get(f"/open311/v2/requests/{case_id}.json")).status_code == 404
    assert (await w.client.get("/open311/v2/requests.json")).json() == []
    # a resident cannot change it, and the change was a staff-only event
    denied = await w.client.put(
        f"/api/v1/reports/{case_id}/internal", headers=w.resident.headers, json={"internal": False}
    )
    assert denied.status_code == 404
    assert await HazardEvent.exists().where(
        (HazardEvent.action == "mark_internal") & HazardEvent.public.eq(False)
    )


async def test_request_filters(w):
    gas = (await w.post()).json()[0]["service_request_id"]
    w.advance(days=1)
    fire = (
        await w.post(service_code="fire", lat=str(POINT_IN[G3][0]), long=str(POINT_IN[G3][1]))
    ).json()[0]["service_request_id"]
    got = lambda r: [x["service_request_id"] for x in r.json()]  # noqa: E731
    assert got(await w.client.get("/open311/v2/requests.json")) == [fire, gas]
    by_code = await w.client.get("/open311/v2/requests.json", params={"service_code": "fire"})
    assert got(by_code) == [fire]
    ids = await w.client.get(
        "/open311/v2/requests.json", params={"service_request_id": f"{gas},{fire}"}
    )
    assert sorted(got(ids)) == sorted([gas, fire])
    period = await w.client.get(
        "/open311/v2/requests.json",
        params={"start_date": "2026-12-01T00:00:00Z", "end_date": "2026-12-01T12:00:00+08:00"},
    )
    assert got(period) == [gas]
    assert got(await w.client.get("/open311/v2/requests.json", params={"status": "closed"})) == []
    assert len(got(await w.client.get("/open311/v2/requests.json", params={"status": "open"}))) == 2
    too_long = await w.client.get(
        "/open311/v2/requests.xml",
        params={"start_date": "2026-01-01T00:00:00Z", "end_date": "2026-12-01T00:00:00Z"},
    )
    assert too_long.status_code == 400
    error = xml(too_long).find("error")
    assert error.findtext("code") == "400" and "90" in error.findtext("description")
    for bad in ({"status": "pending"}, {"start_date": "yesterday"}, {"service_request_id": "1;2"}):
        r = await w.client.get("/open311/v2/requests.json", params=bad)
        assert r.status_code == 400, bad
        assert r.json()[0]["code"] == 400
    # cases older than 90 days are not in the default window
    clock.set_clock(lambda: NOW + timedelta(days=100))
    assert got(await w.client.get("/open311/v2/requests.json")) == []


async def test_keys_bad_revoked_and_rate_limited(w):
    no_key = await w.post(key="")
    assert no_key.status_code == 401 and no_key.json()[0]["code"] == 401
    bad = await w.post(fmt="xml", key="not-a-key")
    assert bad.status_code == 403
    assert xml(bad).findtext("error/code") == "403"
    revoke = await w.client.post(
        f"/api/v1/open311-clients/{w.client_id}/revoke", headers=w.admin.headers
    )
    assert revoke.json()["active"] is False
    assert (await w.post()).status_code == 403  # the revoked client cannot post any more
    slow = await w.issue("Slow app", requests_per_minute=2)
    assert (await w.post(key=slow["api_key"])).status_code == 201
    assert (await w.post(key=slow["api_key"])).status_code == 201
    limited = await w.post(key=slow["api_key"])
    assert limited.status_code == 429 and limited.headers["retry-after"]
    assert limited.json()[0]["code"] == 429


async def test_clients_api_is_for_admins_and_shows_the_key_once(w):
    listed = await w.client.get("/api/v1/open311-clients", headers=w.admin.headers)
    assert listed.status_code == 200
    item = listed.json()["items"][0]
    assert item["slug"] == "civic-app" and "api_key" not in item
    assert w.key.startswith(item["key_prefix"])
    for person in (w.dispatcher, w.resident):
        r = await w.client.get("/api/v1/open311-clients", headers=person.headers)
        assert r.status_code == 403
        r = await w.client.post(
            "/api/v1/open311-clients", headers=person.headers, json={"name": SCRIPT}
        )
        assert r.status_code == 403
    again = await w.client.post(
        "/api/v1/open311-clients", headers=w.admin.headers, json={"name": "Civic app"}
    )
    assert again.status_code == 409
    named = await w.issue(SCRIPT, slug="xss-app")
    assert named["client"]["name"] == SCRIPT


async def test_jurisdiction(w):
    ok = await w.client.get(
        "/open311/v2/services.json", params={"jurisdiction_id": "cq-141.example"}
    )
    assert ok.status_code == 200
    other = await w.client.get("/open311/v2/services.xml", params={"jurisdiction_id": "sf.gov"})
    assert other.status_code == 404
    assert "jurisdiction_id" in xml(other).findtext("error/description")
    assert (await w.post(jurisdiction_id="sf.gov")).status_code == 404


async def test_bad_posts_answer_in_the_spec_format(w):
    cases = [
        ({"service_code": "nothing"}, 404),
        ({"attribute[reporter_safe]": ""}, 400),
        ({"attribute[reporter_safe]": "maybe"}, 400),
        ({"attribute[colour]": "red"}, 400),
        ({"lat": "north"}, 400),
        ({"lat": "95"}, 400),
        ({"lat": "", "long": ""}, 400),
        ({"lat": "", "long": "", "address_string": "较场口社区"}, 201),
        ({"lat": "", "long": "", "address_string": G3}, 201),  # a grid's code
        ({"lat": "", "long": "", "address_string": "第一网格"}, 400),  # three grids have it
        ({"lat": "", "long": "", "address_string": SCRIPT}, 400),
        ({"media_url": "javascript:alert(1)"}, 400),
        ({"media_url": "https://example.com/p.jpg"}, 201),
        ({"description": "x" * 2001}, 400),
        ({"description": "bad\x00"}, 400),
        ({"lat": "10", "long": "10"}, 400),  # outside every grid
        ({"colour": "red"}, 400),
    ]
    for fields, status in cases:
        r = await w.post(**fields)
        assert r.status_code == status, (fields, r.text)
        if status >= 400:
            body = r.json()
            assert r.headers["content-type"].startswith("application/json")
            assert body[0]["code"] == status and body[0]["description"]
    unknown_format = await w.client.get("/open311/v2/services.html")
    assert unknown_format.status_code == 404 and unknown_format.json()[0]["code"] == 404
    assert (await w.client.get("/open311/v2/requests/abc.xml")).status_code == 404


async def test_media_url_of_a_post_is_shown(w):
    r = await w.post(media_url="https://example.com/p.jpg?a=1&b=2")
    case_id = r.json()[0]["service_request_id"]
    root = xml(await w.client.get(f"/open311/v2/requests/{case_id}.xml"))
    assert root.findtext("request/media_url") == "https://example.com/p.jpg?a=1&b=2"


async def test_closed_cases_read_closed_with_notes(w):
    case_id = int((await w.post()).json()[0]["service_request_id"])
    r = await w.client.post(
        f"/api/v1/reports/{case_id}/actions",
        headers=w.dispatcher.headers,
        json={"action": "reject", "reason": "不是隐患"},
    )
    assert r.status_code == 200, r.text
    one = (await w.client.get(f"/open311/v2/requests/{case_id}.json")).json()[0]
    assert one["status"] == "closed"
    assert one["expected_datetime"] is None
    assert T1  # the township of G1


async def test_the_console_shows_the_channel_and_the_clients_page(w):
    case_id = (await w.post(description=SCRIPT)).json()[0]["service_request_id"]
    w.client.cookies.set("grid_access", issue_access_token(w.dispatcher.id)[0])
    page = await w.client.get(f"/console/cases/{case_id}")
    assert page.status_code == 200
    assert "Open311: civic-app" in page.text or "Open311：civic-app" in page.text
    assert "Open311: Civic app" in page.text  # the client's name on the timeline
    assert "<script>alert" not in page.text
    # the clients page is the admins'
    assert (await w.client.get("/console/open311")).status_code == 403
    w.client.cookies.set("grid_access", issue_access_token(w.admin.id)[0])
    await w.issue(SCRIPT, slug="xss-app")
    listing = await w.client.get("/console/open311")
    assert listing.status_code == 200
    assert "civic-app" in listing.text and w.key not in listing.text
    assert "&lt;script&gt;alert" in listing.text and "<script>alert" not in listing.text
    assert labels.name(labels.CHANNEL, "open311:civic-app", english=True) == "Open311: civic-app"


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"GRID_OPEN311_JURISDICTION": ""}, "GRID_OPEN311_JURISDICTION"),
        ({"GRID_OPEN311_JURISDICTION": "a b<script>"}, "GRID_OPEN311_JURISDICTION"),
        ({"GRID_OPEN311_CONTACT": " "}, "GRID_OPEN311_CONTACT"),
    ],
)
def test_bad_open311_settings_stop_the_start(env, says):
    with pytest.raises(SettingsError, match=says):
        load_settings({"GRID_SECRET_KEY": "k" * 40, **env})


async def test_a_huge_request_id_is_a_404_in_the_spec_format(w):
    # Python refuses int() of more than 4,300 digits: that was a 500
    for fmt in ("json", "xml"):
        r = await w.client.get(f"/open311/v2/requests/{'1' * 5000}.{fmt}")
        assert r.status_code == 404, r.text[:200]
        body = r.json() if fmt == "json" else None
        if body is not None:
            assert body[0]["code"] == 404
        else:
            assert xml(r).findtext("error/code") == "404"


async def test_the_duplicate_notice_never_names_an_internal_case(w):
    def named(notice: str) -> set[str]:
        return set(re.findall(r"\d+", notice))

    first = (await w.post()).json()[0]["service_request_id"]
    put = await w.client.put(
        f"/api/v1/reports/{first}/internal", headers=w.dispatcher.headers, json={"internal": True}
    )
    assert put.status_code == 200, put.text
    second = (await w.post(description="又漏气了")).json()[0]
    assert second["service_notice"] == ""
    third = (await w.post(description="还在漏")).json()[0]
    assert named(third["service_notice"]) == {second["service_request_id"]}


async def test_a_client_created_twice_at_the_same_moment_answers_409(w, monkeypatch):
    """Two admins (or a double click) create the same client together: both find the slug
    free, one insert wins, and the other answers a 409, never a server error."""
    from grid_backend.open311 import clients

    class LostRace:  # the other request's row was not there yet when this one looked
        def where(self, *_):
            return self

        async def run(self):
            return False

    monkeypatch.setattr(clients.Open311Client, "exists", classmethod(lambda cls: LostRace()))
    r = await w.client.post(
        "/api/v1/open311-clients", headers=w.admin.headers, json={"name": "Civic app"}
    )
    assert r.status_code == 409, r.text
    monkeypatch.undo()
    listed = await w.client.get("/api/v1/open311-clients", headers=w.admin.headers)
    assert [i["slug"] for i in listed.json()["items"]] == ["civic-app"]


async def test_public_reads_are_limited_per_address(w, monkeypatch):
    """A scraper polling the public lists is slowed down at GRID_OPEN311_READS_PER_MINUTE,
    in the spec's error format with Retry-After; posting with a key is not slowed."""
    from grid_backend.settings import get_settings

    monkeypatch.setenv("GRID_OPEN311_READS_PER_MINUTE", "3")
    get_settings.cache_clear()
    try:
        for _ in range(3):
            assert (await w.client.get("/open311/v2/requests.json")).status_code == 200
        limited = await w.client.get("/open311/v2/services.xml")
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        assert xml(limited).findtext("error/code") == "429"
        assert (await w.post()).status_code == 201  # posts count against their key instead
    finally:
        monkeypatch.delenv("GRID_OPEN311_READS_PER_MINUTE")
        get_settings.cache_clear()
