"""The console's cookie session: sign-in, CSRF on every change, refresh, sign-out, staff only."""

from __future__ import annotations

import re

from factories import PASSWORD, make_person, make_tree


async def _login_page(client) -> str:
    page = await client.get("/console/login")
    assert page.status_code == 200
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)


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
        headers={"X-CSRF-Token": client.cookies["grid_csrf"]},
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
    await _login_page(client)  # a visitor with the CSRF cookie but no session
    answer = await client.post(
        "/console/refresh?from=menu", headers={"X-CSRF-Token": client.cookies["grid_csrf"]}
    )
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
    old_refresh = client.cookies["grid_refresh"]
    client.cookies.set("grid_access", "expired.or.forged", domain="testserver.local", path="/")
    renewed = await client.post(
        "/console/refresh", headers={"X-CSRF-Token": client.cookies["grid_csrf"]}
    )
    assert renewed.status_code == 307  # repeat the request with the new cookies
    assert client.cookies["grid_refresh"] != old_refresh
    again = await client.post(
        "/console/refresh", headers={"X-CSRF-Token": client.cookies["grid_csrf"]}
    )
    assert again.status_code == 204


async def test_a_resident_is_not_let_into_the_console(db, client):
    person = await make_person()
    await _sign_in(client, person.phone)
    answer = await client.post(
        "/console/refresh", headers={"X-CSRF-Token": client.cookies["grid_csrf"]}
    )
    assert answer.status_code == 403
    assert "工作台仅供镇街工作人员使用" in answer.text


async def test_sign_out_revokes_the_session(db, client):
    await make_tree()
    person = await make_person(("dispatcher", "500103001"))
    await _sign_in(client, person.phone)
    refresh = client.cookies["grid_refresh"]
    out = await client.post("/console/logout", data={"csrf_token": client.cookies["grid_csrf"]})
    assert out.status_code == 303
    reuse = await client.post("/api/v1/auth/refresh", json={"refresh_token": refresh})
    assert reuse.status_code == 401


async def test_pages_carry_the_session_csrf_token_for_their_forms_and_scripts(db, client):
    await make_tree()
    person = await make_person(("dispatcher", "500103001"))
    await _sign_in(client, person.phone)
    page = await client.get("/console/map")
    assert page.status_code == 200
    token = client.cookies["grid_csrf"]
    assert f'<meta name="csrf-token" content="{token}">' in page.text
    assert f'name="csrf_token" value="{token}"' in page.text  # the sign-out form
