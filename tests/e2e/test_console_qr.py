"""The console's QR code page in a real browser: a dispatcher opens it as it comes (the first of
their communities, nothing chosen), issues a code for a new risk point, reissues it (the old
poster's address now opens the "withdrawn" page), revokes it, issues every missing code at
once and downloads the printable sheet and a code's pictures. A refused action shows the
problem's title; a grid worker is offered no link and gets the console's 403 page."""

from __future__ import annotations

import uuid

from browsing import sign_in_console
from playwright.sync_api import expect

DISPATCHER = "13900000004"  # 李值班, dispatcher of 七星岗街道
WORKER = "13900000007"  # 周网格员: no qr.manage


def _new_points(live_server, community_id: int, tag: str) -> list[dict]:
    """Two new risk points beside one of the community's (so they have no code yet)."""
    with live_server.api(live_server.login(DISPATCHER)) as api:
        base = api.get("/api/v1/risk-points", params={"area_id": community_id, "limit": 1})
        near = base.json()["items"][0]
        made = []
        for n, kind in enumerate(("landslide", "flood_underpass")):
            answer = api.post(
                "/api/v1/risk-points",
                json={
                    "name": f"二维码测试点{tag}{n}",
                    "type": kind,
                    "risk_level": "high",
                    "lat": near["lat"] + 0.00001 * (n + 1),
                    "lng": near["lng"],
                },
            )
            assert answer.status_code == 201, answer.text
            made.append(answer.json())
    return made


def _code_of(live_server, community_id: int, point_id: int, revoked: bool = False) -> list[dict]:
    with live_server.api(live_server.login(DISPATCHER)) as api:
        items = api.get(
            "/api/v1/qr-codes",
            params={"area_id": community_id, "revoked": revoked, "limit": 200},
        ).json()["items"]
    return [c for c in items if c["target"] == "risk_point" and c["target_id"] == point_id]


def _picture_shown(page, row) -> None:
    img = row.locator("td.qr-preview img")
    expect(img).to_be_visible()
    page.wait_for_function(
        "(img) => img.complete && img.naturalWidth > 0", arg=img.element_handle()
    )


def test_a_dispatcher_keeps_the_codes_of_a_community(console, live_server, screenshot):
    page = console
    page.on("dialog", lambda dialog: dialog.accept())  # the reissue and revoke confirmations
    nav = page.locator("nav.sidenav a", has_text="二维码管理")
    expect(nav).to_have_attribute("href", "/console/qr")
    nav.click()
    page.wait_for_url("**/console/qr")
    community_id = int(page.locator("#issue-all").get_attribute("data-area"))
    tag = uuid.uuid4().hex[:4]
    first, second = _new_points(live_server, community_id, tag)
    page.reload()
    row = page.locator(f"tr[data-place=risk_point-{first['id']}]")
    expect(row).to_contain_text(first["name"])
    expect(row.locator("[data-testid=no-code]")).to_have_text("尚未发放二维码")
    expect(row).to_contain_text("风险：较高")
    expect(page.locator("#issue-all")).to_be_enabled()
    screenshot(page, "console-qr-missing")

    # issue
    row.locator("button[data-issue]").click()
    expect(page.locator("#qr-status")).to_have_text(f"已为{first['name']}生成二维码。")
    row = page.locator(f"tr[data-place=risk_point-{first['id']}]")
    _picture_shown(page, row)
    [issued] = _code_of(live_server, community_id, first["id"])
    expect(row.locator("img")).to_have_attribute("alt", f"{first['name']}的二维码")
    expect(row).to_contain_text("李值班")  # issued by
    assert issued["scans"] == 0
    assert issued["url"] not in page.content()  # the token is never printed on the page
    screenshot(page, "console-qr-issued")

    # a scan is counted on the page
    page.context.new_page().goto(issued["url"])
    page.reload()
    expect(page.locator(f"tr[data-place=risk_point-{first['id']}] td").nth(2)).to_contain_text("1")

    # reissue: the old poster stops working
    page.locator(f"tr[data-place=risk_point-{first['id']}] button[data-reissue]").click()
    expect(page.locator("#qr-status")).to_contain_text(f"已为{first['name']}重新生成二维码")
    [reissued] = _code_of(live_server, community_id, first["id"])
    assert reissued["id"] != issued["id"]
    _picture_shown(page, page.locator(f"tr[data-place=risk_point-{first['id']}]"))
    poster = page.context.new_page()
    answer = poster.goto(issued["url"])
    assert answer is not None and answer.status == 410
    expect(poster.locator("h1")).to_have_text("此二维码已停用")
    poster.close()

    # revoke: the place is back to having no code
    page.locator(f"tr[data-place=risk_point-{first['id']}] button[data-revoke]").click()
    expect(page.locator("#qr-status")).to_have_text(f"{first['name']}的二维码已停用。")
    row = page.locator(f"tr[data-place=risk_point-{first['id']}]")
    expect(row.locator("[data-testid=no-code]")).to_be_visible()
    assert _code_of(live_server, community_id, first["id"]) == []

    # the revoked codes, on request
    page.click("[data-testid=revoked-codes]")
    revoked = page.locator("[data-testid=qr-revoked]")
    expect(revoked.locator(f"tr[data-code='{issued['id']}']")).to_contain_text(first["name"])
    expect(revoked.locator(f"tr[data-code='{reissued['id']}']")).to_contain_text(first["name"])
    screenshot(page, "console-qr-revoked")
    page.click("[data-testid=working-codes]")

    # issue all missing: both new points (and whatever else lacked one) get a code
    page.click("#issue-all")
    expect(page.locator("#qr-status")).to_contain_text("个二维码")
    for point in (first, second):
        _picture_shown(page, page.locator(f"tr[data-place=risk_point-{point['id']}]"))
        assert len(_code_of(live_server, community_id, point["id"])) == 1
    expect(page.locator("#issue-all")).to_be_disabled()
    expect(page.locator("[data-testid=no-code]")).to_have_count(0)
    screenshot(page, "console-qr-all-issued")

    # the printable sheet and a code's pictures are downloads
    with page.expect_download() as sheet:
        page.click("#sheet")
    with open(sheet.value.path(), "rb") as pdf:
        assert pdf.read(5) == b"%PDF-"
    row = page.locator(f"tr[data-place=risk_point-{second['id']}]")
    with page.expect_download() as png:
        row.locator("[data-download=png]").click()
    with open(png.value.path(), "rb") as picture:
        assert picture.read(8) == b"\x89PNG\r\n\x1a\n"
    with page.expect_download() as svg:
        row.locator("[data-download=svg]").click()
    with open(svg.value.path(), "rb") as picture:
        assert b"<svg" in picture.read()


def test_a_refused_action_shows_the_problems_title(console, live_server, screenshot):
    page = console
    page.goto("/console/qr?lang=en")
    community_id = int(page.locator("#issue-all").get_attribute("data-area"))
    [gone, _] = _new_points(live_server, community_id, uuid.uuid4().hex[:4])
    page.reload()
    expect(page.locator("h1")).to_contain_text("QR codes")
    row = page.locator(f"tr[data-place=risk_point-{gone['id']}]")
    expect(row.locator("[data-testid=no-code]")).to_have_text("No code yet")
    with live_server.api(live_server.login(DISPATCHER)) as api:  # retired meanwhile
        assert api.delete(f"/api/v1/risk-points/{gone['id']}").status_code == 200
    held = []  # the answer is held back a moment: the page shows that it is working
    page.route("**/api/v1/qr-codes", lambda route: held.append(route))
    row.locator("button[data-issue]").click()
    expect(page.locator("#qr-status")).to_have_text("Working…")
    expect(row.locator("button[data-issue]")).to_be_disabled()
    expect(page.locator("#issue-all")).to_be_disabled()
    screenshot(page, "console-qr-working")
    held[0].continue_()
    page.unroute("**/api/v1/qr-codes")
    expect(page.locator("#qr-error")).to_have_text("No such risk point")
    expect(page.locator("#qr-status")).to_be_hidden()
    expect(row.locator("button[data-issue]")).to_be_enabled()  # the page can be used again
    screenshot(page, "console-qr-error")

    # the sheet refused (as when the server lacks its font): read on the page, not saved
    page.route(
        "**/api/v1/qr-codes/sheet.pdf*",
        lambda route: route.fulfill(
            status=503,
            content_type="application/problem+json",
            body='{"title": "The PDF font is missing", "code": "pdf_font_missing"}',
        ),
    )
    downloads = []
    page.on("download", lambda download: downloads.append(download))
    page.click("#sheet")
    expect(page.locator("#qr-error")).to_have_text("The PDF font is missing")
    assert downloads == []


def test_a_grid_worker_is_not_offered_the_page(desktop):
    sign_in_console(desktop, WORKER)
    expect(desktop.locator("nav.sidenav a", has_text="二维码管理")).to_have_count(0)
    answer = desktop.goto("/console/qr")
    assert answer is not None and answer.status == 403
    expect(desktop.locator("[data-code=forbidden]")).to_be_visible()
