"""The first visit of the phone app's sign-in page is light: everything the page loads, as it
crosses the wire (compressed, headers included, counted by Chromium), stays under 60 KB. The
service worker then keeps the app's shell for offline use in the background; its bytes are
measured too and written beside the figure (.pytest-data/first-visit.json)."""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUDGET = 60_000


def test_the_first_visit_of_the_login_page_stays_under_60_kb(browser, live_server):
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": 360, "height": 740}, is_mobile=True
    )
    page = context.new_page()
    cdp = context.new_cdp_session(page)
    cdp.send("Network.enable")
    urls: dict[str, tuple[str, str]] = {}
    sizes: dict[str, int] = {}
    cdp.on(
        "Network.responseReceived",
        lambda e: urls.__setitem__(
            e["requestId"],
            (e["response"]["url"], e["response"]["headers"].get("content-encoding", "")),
        ),
    )
    cdp.on(
        "Network.loadingFinished",
        lambda e: sizes.__setitem__(e["requestId"], int(e["encodedDataLength"])),
    )
    shell: list[int] = []
    context.on(
        "requestfinished",
        lambda r: (
            shell.append(r.sizes()["responseBodySize"] + r.sizes()["responseHeadersSize"])
            if r.service_worker
            else None
        ),
    )
    page.goto("/app/login", wait_until="networkidle")
    page.wait_for_selector("#login-form button[type=submit]:not([disabled])")
    page.wait_for_function(
        "caches.keys().then(k => k.some(n => n.startsWith('grid-field-')))", timeout=15000
    )
    page.wait_for_timeout(1000)
    context.close()

    loaded = {urls[r][0]: (n, urls[r][1]) for r, n in sizes.items() if r in urls}
    total = sum(n for n, _ in loaded.values())
    figures = {
        "login_first_visit_bytes": total,
        "requests": len(loaded),
        "service_worker_shell_bytes": sum(shell),
        "files": {url.removeprefix(live_server.url): n for url, (n, _) in loaded.items()},
    }
    out = ROOT / ".pytest-data" / "first-visit.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(figures, indent=2))
    print(json.dumps({k: v for k, v in figures.items() if k != "files"}))

    assert any(u.endswith("/app/login") for u in loaded)
    assert any("/static/field/js/app.js?v=" in u for u in loaded)
    text = [u for u in loaded if u.split("?")[0].endswith((".js", ".css", "/app/login"))]
    assert len(text) >= 5
    assert all(loaded[u][1] in {"br", "gzip"} for u in text), "text went uncompressed"
    assert total < BUDGET, f"the first visit loads {total} bytes"
