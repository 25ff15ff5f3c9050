"""The field app's pages without a browser: every shell page answers in both languages, the
service worker is served so its scope covers /app/ and is never cached, everything it keeps
offline exists, the manifest is installable, and every visible string has its Chinese."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from PIL import Image

from grid_backend.web import assets, field, i18n
from grid_backend.web.field import FIELD_STATIC, PAGES
from grid_backend.web.templating import TEMPLATES


@pytest.mark.parametrize("path", list(PAGES.values()))
async def test_every_page_is_a_shell_in_chinese_by_default(client, path):
    answer = await client.get(path)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert '<html lang="zh-CN">' in answer.text
    assert 'rel="manifest" href="/app/manifest.webmanifest"' in answer.text
    assert f'<script type="module" src="{assets.static_url("field/js/app.js")}">' in answer.text
    # the same shell for everyone: nothing personal is rendered by the server
    assert "Authorization" not in answer.text


async def test_english_on_request_and_the_page_scripts_get_their_messages(client):
    chinese = await client.get("/app/report")
    assert "<title>隐患上报 · 网格治理</title>" in chinese.text
    messages = json.loads(re.search(r'id="messages">(.*?)</script>', chinese.text).group(1))
    assert messages["js:Sent. Thank you!"] == "已提交，感谢您的上报！"
    english = await client.get("/app/report?lang=en")
    assert "<title>Report a hazard · Grid governance</title>" in english.text
    assert "Are you in a safe place?" in english.text
    assert english.cookies.get(i18n.COOKIE) == "en"


async def test_the_service_worker_covers_app_and_is_never_cached(client):
    answer = await client.get("/app/sw.js")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/javascript")
    assert answer.headers["service-worker-allowed"] == "/app/"
    assert "no-store" in answer.headers["cache-control"]
    shell = json.loads(re.match(r"const SHELL = (\{.*?\});\n", answer.text).group(1))
    assert set(shell["pages"]) == set(PAGES.values())
    assert assets.static_url("field/js/app.js") in shell["assets"]  # the names pages ask for
    assert assets.static_url("field/js/pages/report.js") in shell["assets"]
    # everything it keeps for offline use exists (a missing one would fail its install)
    for url in [*shell["pages"], *shell["assets"], "/app/manifest.webmanifest"]:
        assert (await client.get(url)).status_code == 200, url
    again = await client.get("/app/sw.js")
    assert re.match(r"const SHELL = (\{.*?\});", again.text).group(1) == json.dumps(shell)


async def test_the_manifest_makes_the_app_installable(client):
    answer = await client.get("/app/manifest.webmanifest?lang=en")
    assert answer.headers["content-type"].startswith("application/manifest+json")
    manifest = answer.json()
    assert manifest["start_url"] == "/app/" and manifest["scope"] == "/app/"
    assert manifest["display"] == "standalone"
    assert manifest["name"] == "Grid governance: report and patrol"
    assert (await client.get("/app/manifest.webmanifest?lang=zh-CN")).json()[
        "short_name"
    ] == "网格141"
    sizes = set()
    for icon in manifest["icons"]:
        body = (await client.get(icon["src"])).content
        if icon["type"] == "image/png":
            image = Image.open(io.BytesIO(body))
            assert f"{image.width}x{image.height}" == icon["sizes"]
            sizes.add(icon["sizes"])
        else:
            assert body.startswith(b"<svg")
    assert {"192x192", "512x512"} <= sizes
    assert any(icon.get("purpose") == "maskable" for icon in manifest["icons"])


def test_every_string_of_the_field_app_has_its_chinese():
    catalog = i18n.catalog("zh-CN")
    used = set()
    for script in FIELD_STATIC.rglob("*.js"):
        used |= set(re.findall(r'"(js:[^"]+)"', script.read_text()))
    for template in (TEMPLATES / "field").glob("*.html"):
        used |= {m[1] for m in re.findall(r'_\((["\'])(.+?)\1\)', template.read_text())}
    # the page titles are msgids too
    used |= set(re.findall(r'_page\("\w+", "([^"]+)"\)', Path(field.__file__).read_text()))
    assert "Report a hazard" in used
    missing = sorted(message for message in used if message not in catalog)
    assert missing == []
