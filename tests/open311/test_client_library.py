"""An existing Open311 client library from PyPI (georeport 0.3.1) against a real server on
127.0.0.1: it lists services, reads a definition, and reads back a posted request, in JSON and
in XML. georeport has no method to post (it reads only), so the post is the spec's plain form
POST, sent with httpx; the only other Python clients on PyPI (open311 1.1, three 0.8) are
Python 2 code that does not import on Python 3."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from factories import G1, POINT_IN, make_person, make_tree
from georeport import GeoReport
from servers import serve_here

from grid_backend.settings import get_settings

SCRIPT = "<script>alert(1)</script>"


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_georeport_lists_services_and_reads_back_a_posted_request(db, fmt):
    await make_tree()
    admin = await make_person(("admin", "500000"))
    async with serve_here(get_settings()) as url, httpx.AsyncClient(base_url=url) as http:
        issued = await http.post(
            "/api/v1/open311-clients", headers=admin.headers, json={"name": "Civic app"}
        )
        key = issued.json()["api_key"]
        client = GeoReport(
            f"{url}/open311/v2", jurisdiction="cq-141.example", api_key=key, output_format=fmt
        )
        services = await asyncio.to_thread(client.get_service_list)
        codes = [s["service_code"] for s in services]
        assert "gas" in codes
        definition = await asyncio.to_thread(client.get_service_definition, "gas")
        assert definition["service_code"] == "gas"

        lat, lng = POINT_IN[G1]
        posted = await http.post(
            f"/open311/v2/requests.{fmt}",
            data={
                "api_key": key,
                "jurisdiction_id": "cq-141.example",
                "service_code": "gas",
                "lat": str(lat),
                "long": str(lng),
                "description": f"燃气泄漏 {SCRIPT}",
                "attribute[reporter_safe]": "true",
                "phone": "13800001111",
            },
        )
        assert posted.status_code == 201, posted.text

        listed = await asyncio.to_thread(client.get_service_requests, service_code="gas")
        # xmltodict gives one request as a dict, several as a list
        first = listed[0] if isinstance(listed, list) else listed
        request_id = first["service_request_id"]
        one = await asyncio.to_thread(client.get_service_request, request_id)
        assert one["description"] == f"燃气泄漏 {SCRIPT}"
        assert one["status"] == "open"
        assert one["service_code"] == "gas"
        assert "phone" not in one and "13800001111" not in str(one)
        if fmt == "xml":
            assert one["lat"] == str(round(lat, 3))
        else:
            assert one["lat"] == round(lat, 3)
