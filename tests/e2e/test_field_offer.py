"""The phone's "me too" offer in a real 360 px browser: a resident about to report is shown
what the nearby open case is (its kind, its stage in words, its description, when and how far)
and never who reported it; its photo only when the photo rules let this resident open it."""

from __future__ import annotations

import io
import random
import re
from pathlib import Path

from PIL import Image, ImageDraw
from playwright.sync_api import expect

IMAGES = Path(__file__).resolve().parents[1] / "media" / "images"
RESIDENT = "13900000012"
PASSWORD = "Grid141demo"


def unique_photo() -> bytes:
    """A picture nobody else has uploaded (photos are stored by content)."""
    image = Image.new("RGB", (640, 480), tuple(random.randrange(256) for _ in range(3)))
    ImageDraw.Draw(image).text((20, 20), str(random.random()), fill=(0, 0, 0))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG")
    return buffer.getvalue()


def file_case(live_server, token: str, description: str, metres_north: float) -> dict:
    with live_server.api(token) as api:
        pid = api.post(
            "/api/v1/media", files={"file": ("gas.jpg", unique_photo(), "image/jpeg")}
        ).json()["id"]
        answer = api.post(
            "/api/v1/reports",
            json={
                "category": "gas",
                "description": description,
                "photo_ids": [pid],
                "reporter_safe": True,
                "location": {"lat": 29.5630 + metres_north / 111_320, "lng": 106.5516},
            },
        )
        assert answer.status_code == 201, answer.text
        return answer.json()


def test_the_offer_says_what_the_nearby_case_is_without_its_reporter(
    phone, live_server, screenshot
):
    name = "邻居老周"
    signed = live_server.register("13912340099", "Neighbour-141", name)
    assert signed.status_code == 201, signed.text
    token = live_server.login("13912340099", "Neighbour-141")
    theirs = file_case(live_server, token, "三单元楼道有很重的燃气味", 45)

    page = phone
    page.goto("/app/")
    page.wait_for_url("**/app/login**")
    page.fill("input[name=phone]", RESIDENT)
    page.fill("input[name=password]", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url("**/app/")
    page.goto("/app/report")
    expect(page.locator("#position")).to_contain_text("精度")
    page.set_input_files("#photo-input", str(IMAGES / "hopper.jpg"))
    page.select_option("#category", "gas")
    page.check("input[name=safe][value=yes]")
    page.click("#send")

    card = page.locator(f"#precheck .dup[data-case='{theirs['id']}']")
    expect(card).to_be_visible()
    expect(card.locator(".dup-title")).to_contain_text("燃气")  # its kind, in words
    expect(card.locator(".dup-title")).to_contain_text(theirs["status_text"])  # its stage
    expect(card.locator(".dup-desc")).to_have_text("三单元楼道有很重的燃气味")
    expect(card.locator(".distance")).to_have_text(re.compile(r"相距 4[4-6] 米"))
    expect(card.locator("time")).to_have_text(re.compile(r"\d{4}/\d{2}/\d{2} \d{2}:\d{2}"))
    # the neighbour's photo is theirs and staff's: no picture, and nothing about them
    assert card.locator("img").count() == 0
    text = card.inner_text()
    assert name not in text and "13912340099" not in text
    assert not re.search(r"null|undefined|NaN|\b[a-z]+_[a-z_]+\b", text), text
    screenshot(page, "field-report-offer-details")
