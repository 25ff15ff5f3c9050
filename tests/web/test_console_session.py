"""The console's cookie session: sign-in, CSRF on every change (the token bound to the session),
refresh, sign-out, staff only, Secure cookies in production."""

from __future__ import annotations

import re

from factories import PASSWORD, make_person, make_tree


async def _login_page(client) -> str:
    """The CSRF token the sign-in form carries: a visitor's, or the session's once signed in."""
    page = await client.get("/console/login")
    assert page.status_code == 200
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


_session_token = _login_page  # signed in, every page (the sign-in form too) has the session's


async def _sign_in(client, phone: str, password: str = PASSWORD, next_page: str = "/console/"):
    token = await _login_page(client)
    return await client.post(
        "/console/login",
        data={"phone": phone, "password": password, "csrf_token": token, "next": next_page},
    )


async def test_a_dispatcher_signs_in_and_the_api_accepts_the_cookie_with_the_csrf_header(
    db, client
):
    await make_tree()
    person = await make_person(("dispatcher", "500103001"))
    answer = await _sign_in(client, person.phone, next_page="/console/cases?status=submitted")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/cases?status=submitted"
    cookies = answer.headers.get_list("set-cookie")
    access = next(c for c in cookies if c.startswith("grid_access="))
    assert "HttpOnly" in access
    assert "SameSite=lax" in access or "SameSite=Lax" in access
    assert any(c.startswith("grid_refresh=") and "HttpOnly" in c for c in cookies)

    me = await client.get("/api/v1/me")  # a GET needs no CSRF token
    assert me.status_code == 200
    assert me.json()["account"]["phone"] == person.phone

    # a change without the CSRF header is refused, with it accepted
    refused = await client.post("/api/v1/me/notifications/read-all")
    assert refused.status_code == 403
    assert refused.json()["code"] == "csrf_failed"
    accepted = await client.post(
        "/api/v1/me/notifications/read-all",
        headers={"X-CSRF-Token": await _session_token(client)},
    )
    assert accepted.status_code in (200, 204)


async def test_wrong_password_shows_the_localised_error_on_the_form(db, client):
    person = await make_person()
    answer = await _sign_in(client, person.phone, password="wrong-password-1")
    assert answer.status_code == 400
    assert "手机号或密码错误" in answer.text
    assert "grid_access" not in client.cookies


async def test_login_without_the_csrf_token_is_refused(db, client):
    person = await make_person()
    await _login_page(client)
    answer = await client.post(
        "/console/login", data={"phone": person.phone, "password": PASSWORD, "csrf_token": "forged"}
    )
    assert answer.status_code == 403
    assert "grid_access" not in client.cookies


async def test_a_visitor_is_sent_to_the_login_page_and_back(db, client):
    token = await _login_page(client)  # a visitor with the CSRF cookie but no session
    answer = await client.post("/console/refresh?from=menu", headers={"X-CSRF-Token": token})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/login?next=%2Fconsole%2Frefresh%3Ffrom%3Dmenu"


async def test_an_offsite_next_is_ignored(db, client):
    await make_tree()
    person = await make_person(("dispatcher", "500103001"))
    answer = await _sign_in(client, person.phone, next_page="//evil.example/")
    assert answer.headers["location"] == "/console/"


async def test_an_expired_access_cookie_is_renewed_from_the_refresh_cookie(db, client):
    await make_tree()
    person = await make_person(("dispatcher", "500103001"))
    await _sign_in(client, person.phone)
    token = await _session_token(client)
    old_refresh = client.cookies["grid_refresh"]
    client.cookies.set("grid_access", "expired.or.forged", domain="testserver.local", path="/")
    renewed = await client.post("/console/refresh", headers={"X-CSRF-Token": token})
    assert renewed.status_code == 307  # repeat the request with the new cookies
    assert client.cookies["grid_refresh"] != old_refresh
    # the session survived the refresh, and so did its CSRF token
    again = await client.post("/console/refresh", headers={"X-CSRF-Token": token})
    assert again.status_code == 204
    assert await _session_token(client) == token


async def test_a_resident_is_not_let_into_the_console(db, client):
    person = await make_person()
    await _sign_in(client, person.phone)
    answer = await client.post(
        "/console/refresh", headers={"X-CSRF-Token": await _session_token(client)}
    )
    assert answer.status_code == 403
    assert "工作台仅供镇街工作人员使用" in answer.text


async def test_sign_out_revokes_the_session(db, client):
    await make_tree()
    person = await make_person(("dispatcher", "500103001"))
    await _sign_in(client, person.phone)
    refresh = client.cookies["grid_refresh"]
    out = await client.post("/console/logout", data={"csrf_token": await _session_token(client)})
    assert out.status_code == 303
    reuse = await client.post("/api/v1/auth/refresh", json={"refresh_token": refresh})
    assert reuse.status_code == 401


async def test_pages_carry_the_session_csrf_token_for_their_forms_and_scripts(db, client):
    await make_tree()
    person = await make_person(("dispatcher", "500103001"))
    await _sign_in(client, person.phone)
    page = await client.get("/console/map")
    assert page.status_code == 200
    token = re.search(r'<meta name="csrf-token" content="([^"]+)">', page.text).group(1)
    assert f'name="csrf_token" value="{token}"' in page.text  # the sign-out form
    assert "grid_csrf" not in client.cookies  # nothing for a script (or an attacker) to copy
    moved = await client.post("/api/v1/me/notifications/read-all", headers={"X-CSRF-Token": token})
    assert moved.status_code in (200, 204)


async def test_a_token_minted_for_another_session_is_refused(db, client):
    await make_tree()
    person = await make_person(("dispatcher", "500103001"))
    await _sign_in(client, person.phone)
    token_a = await _session_token(client)
    client.cookies.clear()
    await _sign_in(client, person.phone)  # session B: same person, another sign-in
    token_b = await _session_token(client)
    assert token_a != token_b
    stale = await client.post(
        "/api/v1/me/notifications/read-all", headers={"X-CSRF-Token": token_a}
    )
    assert stale.status_code == 403
    assert stale.json()["code"] == "csrf_failed"
    form = await client.post("/console/logout", data={"csrf_token": token_a})
    assert form.status_code == 403
    assert 'data-code="csrf_failed"' in form.text
    right = await client.post(
        "/api/v1/me/notifications/read-all", headers={"X-CSRF-Token": token_b}
    )
    assert right.status_code in (200, 204)


async def test_any_equal_cookie_and_header_pair_is_refused(db, client):
    """The old double submit: a value the attacker chose, in both the cookie and the request."""
    await make_tree()
    person = await make_person(("dispatcher", "500103001"))
    await _sign_in(client, person.phone)
    forged = "A" * 43
    client.cookies.set("grid_csrf", forged, domain="testserver.local", path="/")
    answer = await client.post(
        "/api/v1/me/notifications/read-all", headers={"X-CSRF-Token": forged}
    )
    assert answer.status_code == 403
    assert answer.json()["code"] == "csrf_failed"
    form = await client.post("/console/logout", data={"csrf_token": forged})
    assert form.status_code == 403
    assert 'data-code="csrf_failed"' in form.text

    client.cookies.clear()  # before sign-in: the form's token is the HMAC of the visitor nonce
    client.cookies.set("grid_csrf", forged, domain="testserver.local", path="/")
    login = await client.post(
        "/console/login", data={"phone": person.phone, "password": PASSWORD, "csrf_token": forged}
    )
    assert login.status_code == 403
    assert "grid_access" not in client.cookies


async def test_a_visitor_token_works_only_with_its_own_nonce(db, client):
    await make_tree()
    person = await make_person(("dispatcher", "500103001"))
    token = await _login_page(client)
    nonce = client.cookies["grid_csrf"]
    client.cookies.clear()
    await _login_page(client)  # another visitor's nonce
    assert client.cookies["grid_csrf"] != nonce
    refused = await client.post(
        "/console/login", data={"phone": person.phone, "password": PASSWORD, "csrf_token": token}
    )
    assert refused.status_code == 403
    client.cookies.set("grid_csrf", nonce, domain="testserver.local", path="/")
    signed = await client.post(
        "/console/login", data={"phone": person.phone, "password": PASSWORD, "csrf_token": token}
    )
    assert signed.status_code == 303
    # the visitor nonce is spent: the session's own token takes over
    assert 'grid_csrf=""' in " ".join(signed.headers.get_list("set-cookie"))


async def test_cookies_are_secure_in_production(db, client, monkeypatch):
    from dataclasses import replace

    from grid_backend.settings import get_settings
    from grid_backend.web import console

    production = replace(get_settings(), production=True)
    monkeypatch.setattr(console.session, "get_settings", lambda: production)
    monkeypatch.setattr("grid_backend.web.get_settings", lambda: production)
    await make_tree()
    person = await make_person(("dispatcher", "500103001"))
    page = await client.get("/console/login?lang=en")  # over plain http, behind a TLS proxy
    # (the test client speaks http, so it keeps Secure cookies to itself: hand the nonce back)
    nonce = re.search(r"grid_csrf=([^;]+)", " ".join(page.headers.get_list("set-cookie")))
    client.cookies.set("grid_csrf", nonce.group(1), domain="testserver.local", path="/")
    answer = await client.post(
        "/console/login",
        data={"phone": person.phone, "password": PASSWORD, "csrf_token": await _token_of(page)},
    )
    assert answer.status_code == 303
    cookies = [*page.headers.get_list("set-cookie"), *answer.headers.get_list("set-cookie")]
    names = {c.split("=", 1)[0] for c in cookies}
    assert {"grid_csrf", "grid_lang", "grid_access", "grid_refresh"} <= names
    for cookie in cookies:
        if "Max-Age=0" in cookie or '=""' in cookie:
            continue  # a deletion
        assert "Secure" in cookie.split(";", 1)[1], cookie


async def test_cookies_are_not_secure_in_development_over_http(db, client):
    page = await client.get("/console/login?lang=en")
    for cookie in page.headers.get_list("set-cookie"):
        assert "Secure" not in cookie


async def _token_of(page) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
