"""Static files go out compressed, under names that change with their content, cached for a
year when the name carries the hash (web/assets.py); pages are compressed as they are sent;
/favicon.ico answers."""

from __future__ import annotations

import re
from pathlib import Path

from grid_backend.web import assets

IMMUTABLE = "public, max-age=31536000, immutable"


def linked(page: str, name: str) -> str:
    found = re.search(rf'(?:src|href)="(/static/{re.escape(name)}\?v=[0-9a-f]{{12}})"', page)
    assert found, f"{name} is not linked with its hash"
    return found.group(1)


async def test_a_versioned_script_is_compressed_and_cached_for_a_year(client):
    page = (await client.get("/console/login")).text
    url = linked(page, "console/console.css")
    raw = (assets.STATIC / "console" / "console.css").read_bytes()

    br = await client.get(url, headers={"Accept-Encoding": "gzip, deflate, br"})
    assert br.status_code == 200
    assert br.headers["content-encoding"] == "br"
    assert br.headers["cache-control"] == IMMUTABLE
    assert br.headers["vary"] == "Accept-Encoding"
    assert br.headers["content-type"].startswith("text/css")
    assert br.content == raw  # httpx undoes br (brotli is installed)
    assert int(br.headers["content-length"]) < len(raw) / 2

    gz = await client.get(url, headers={"Accept-Encoding": "gzip"})
    assert gz.headers["content-encoding"] == "gzip"
    assert gz.content == raw  # httpx undoes gzip
    assert int(gz.headers["content-length"]) < len(raw) / 2

    plain = await client.get(url, headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.content == raw
    assert plain.headers["etag"] != gz.headers["etag"] != br.headers["etag"]

    again = await client.get(
        url, headers={"Accept-Encoding": "gzip", "If-None-Match": gz.headers["etag"]}
    )
    assert (again.status_code, again.content) == (304, b"")


async def test_an_unversioned_or_stale_name_is_revalidated(client):
    for url in ("/static/console/console.css", "/static/console/console.css?v=000000000000"):
        answer = await client.get(url)
        assert answer.status_code == 200
        assert answer.headers["cache-control"] == "no-cache"
        assert answer.headers["etag"]
    assert (await client.get("/static/console/nothing.css")).status_code == 404
    assert (await client.get("/static/../pyproject.toml")).status_code == 404


async def test_leaflet_and_the_field_app_are_served_the_same_way(client):
    console = (await client.get("/console/login")).text
    assert "/static/console/console.css?v=" in console
    field = (await client.get("/app/login")).text
    app_js = linked(field, "field/js/app.js")
    answer = await client.get(app_js, headers={"Accept-Encoding": "br"})
    assert answer.headers["cache-control"] == IMMUTABLE
    # the modules it imports are named with their hashes too, so a change in one reaches it
    source = answer.text
    imported = re.findall(r'from "(\./[\w/]+\.js\?v=[0-9a-f]{12})"', source)
    assert "./api.js?v=" + assets.manifest()["field/js/api.js"].digest in imported
    leaflet = assets.static_url("vendor/leaflet/leaflet.js")
    answer = await client.get(leaflet, headers={"Accept-Encoding": "gzip"})
    assert (answer.status_code, answer.headers["content-encoding"]) == (200, "gzip")
    assert answer.headers["cache-control"] == IMMUTABLE
    png = await client.get(assets.static_url("vendor/leaflet/images/marker-icon.png"))
    assert "content-encoding" not in png.headers  # PNG is compressed already


async def test_the_service_worker_keeps_the_hashed_names(client):
    sw = (await client.get("/app/sw.js")).text
    assert assets.static_url("field/js/app.js") in sw
    assert assets.static_url("field/field.css") in sw


def test_a_name_changes_with_the_content_and_with_what_it_imports(tmp_path: Path):
    (tmp_path / "a.js").write_text('import { b } from "./b.js";\nexport const a = b;\n')
    (tmp_path / "b.js").write_text("export const b = 1;\n")
    (tmp_path / "c.css").write_text("body { color: red; }\n")
    roots = (("", tmp_path),)
    first = assets.build_manifest(roots)
    assert f'from "./b.js?v={first["b.js"].digest}"' in first["a.js"].body.decode()

    (tmp_path / "b.js").write_text("export const b = 2;\n")
    second = assets.build_manifest(roots)
    assert second["b.js"].digest != first["b.js"].digest
    assert second["a.js"].digest != first["a.js"].digest  # a.js itself is unchanged
    assert second["c.css"].digest == first["c.css"].digest

    (tmp_path / "c.css").write_text("body { color: blue; }\n")
    assert assets.build_manifest(roots)["c.css"].digest != first["c.css"].digest


async def test_pages_are_compressed_and_the_api_is_not(client):
    page = await client.get("/app/login", headers={"Accept-Encoding": "br"})
    assert page.headers["content-encoding"] == "br"
    assert "text/html" in page.headers["content-type"]
    assert b"<html" in page.content
    zipped = await client.get("/console/login", headers={"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    api = await client.get("/api/v1/config", headers={"Accept-Encoding": "gzip, br"})
    assert api.status_code == 200
    assert "content-encoding" not in api.headers


async def test_the_favicon_answers_and_every_page_links_it(client):
    icon = await client.get("/favicon.ico")
    assert icon.status_code == 200
    assert icon.headers["content-type"] in {"image/vnd.microsoft.icon", "image/x-icon"}
    assert icon.content[:4] == b"\x00\x00\x01\x00"  # an ICO file
    assert "max-age=86400" in icon.headers["cache-control"]
    for path in ("/console/login", "/app/login", "/"):
        page = (await client.get(path)).text
        assert re.search(r'<link rel="icon" href="/static/[\w/.-]+\.svg\?v=[0-9a-f]{12}"', page)
    svg = await client.get(assets.static_url("favicon.svg"), headers={"Accept-Encoding": "gzip"})
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
