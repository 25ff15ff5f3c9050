"""Self-registration proves the phone with a texted code, tells nobody which numbers are
registered, is rate-limited, and refuses guessable passwords with the reason named."""

from __future__ import annotations

import pytest
from factories import PASSWORD

from grid_backend.people.passwords import REASONS
from grid_backend.people.services import create_account
from grid_backend.people.tables import Account, RegistrationCode

NEW = "13812345678"
TAKEN = "13987654321"


async def ask(client, phone=NEW, headers=None):
    return await client.post("/api/v1/auth/register/code", json={"phone": phone}, headers=headers)


async def sign_up(client, code, phone=NEW, password=PASSWORD, name="杨居民", headers=None):
    return await client.post(
        "/api/v1/auth/register",
        json={"phone": phone, "code": code, "password": password, "name": name},
        headers=headers,
    )


async def test_a_texted_code_proves_the_phone_and_signs_in(client, code_for):
    r = await ask(client)
    assert r.status_code == 202
    assert r.json() == {"expires_in": 600, "resend_after": 60, "code_length": 6}
    code = code_for(NEW)
    assert len(code) == 6 and code.isdigit()
    r = await sign_up(client, code)
    assert r.status_code == 201, r.text
    assert r.json()["account"]["phone"] == NEW
    me = await client.get(
        "/api/v1/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"}
    )
    assert me.json()["account"]["name"] == "杨居民"
    again = await sign_up(client, code, name="别人")  # a code works once
    assert again.status_code == 422 and again.json()["code"] == "code_invalid"


async def test_without_a_code_nobody_signs_up(client):
    r = await client.post(
        "/api/v1/auth/register", json={"phone": NEW, "password": PASSWORD, "name": "杨居民"}
    )
    assert r.status_code == 422
    assert "`code`" in r.json()["errors"][0]["message"]
    r = await sign_up(client, "123456")  # no code was ever asked for
    assert r.status_code == 422 and r.json()["code"] == "code_invalid"
    assert await Account.count() == 0


async def test_the_code_is_stored_only_as_a_keyed_hash(client, code_for):
    await ask(client)
    code = code_for(NEW)
    row = await RegistrationCode.select().first().run()
    assert len(row["code_hash"]) == 64 and code not in row["code_hash"]
    import hashlib

    assert row["code_hash"] != hashlib.sha256(code.encode()).hexdigest()  # keyed, not plain


async def test_a_registered_number_gets_the_same_answer_and_a_warning_not_a_code(
    client, texts, code_for
):
    await create_account(phone=TAKEN, password=PASSWORD, name="老住户")
    new = await ask(client, NEW)
    taken = await ask(client, TAKEN)
    assert (new.status_code, new.json()) == (taken.status_code, taken.json())
    assert new.headers.get("content-length") == taken.headers.get("content-length")
    [warning] = texts(TAKEN)
    assert "有人尝试用您的手机号注册" in warning
    assert not any(ch.isdigit() for ch in warning.split("】")[1])  # no code in it
    assert await RegistrationCode.count().where(RegistrationCode.phone == TAKEN) == 0
    # and at the next step it fails exactly like a wrong code for a new number
    wrong = await sign_up(client, "000000" if code_for(NEW) != "000000" else "111111")
    guessed = await sign_up(client, code_for(NEW), phone=TAKEN)
    assert (wrong.status_code, wrong.json()["code"]) == (guessed.status_code, "code_invalid")
    wrong_body, guessed_body = wrong.json(), guessed.json()
    assert {k: v for k, v in wrong_body.items()} == {k: v for k, v in guessed_body.items()}


async def test_five_wrong_tries_kill_the_code(client, code_for):
    await ask(client)
    code = code_for(NEW)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(5):
        r = await sign_up(client, wrong)
        assert r.status_code == 422 and r.json()["code"] == "code_invalid"
    r = await sign_up(client, code)
    assert r.status_code == 422 and r.json()["code"] == "code_invalid"
    assert await Account.count() == 0


async def test_a_code_expires_after_10_minutes(client, code_for, test_clock):
    await ask(client)
    test_clock.advance(10 * 60 + 1)
    r = await sign_up(client, code_for(NEW))
    assert r.status_code == 422 and r.json()["code"] == "code_invalid"


async def test_a_new_code_replaces_the_old_one(client, code_for, test_clock):
    await ask(client)
    first = code_for(NEW)
    r = await ask(client)
    assert r.status_code == 429 and 1 <= int(r.headers["retry-after"]) <= 60  # once a minute
    test_clock.advance(61)
    assert (await ask(client)).status_code == 202
    second = code_for(NEW)
    if first != second:
        assert (await sign_up(client, first)).json()["code"] == "code_invalid"
    assert (await sign_up(client, second)).status_code == 201


async def test_code_requests_are_limited_per_phone_and_per_address(client, test_clock):
    for _ in range(5):
        assert (await ask(client)).status_code == 202
        test_clock.advance(61)
    r = await ask(client)  # a sixth code for the phone within the hour
    assert r.status_code == 429 and r.json()["code"] == "rate_limited"
    for n in range(20 - 6):  # the address asked 6 times so far, also for other numbers
        assert (await ask(client, f"1370000{n:04d}")).status_code == 202
    r = await ask(client, "13600000000")
    assert r.status_code == 429
    test_clock.advance(3600)
    assert (await ask(client, "13600000000")).status_code == 202


async def test_sign_up_attempts_are_limited_per_address(client):
    for n in range(30):
        r = await sign_up(client, "123456", phone=f"1370000{n:04d}")
        assert r.status_code == 422
    r = await sign_up(client, "123456", phone="13600000000")
    assert r.status_code == 429


@pytest.mark.parametrize(
    ("password", "reason", "zh"),
    [
        ("Password1", "common", "常见密码"),
        ("Grid141demo", "personal", "本应用的名称"),
        ("short1", "too_short", "至少需要8位"),
        ("onlyletters", "letters_and_digits", "字母和数字"),
        ("xx12345678", "contains_phone", "手机号"),
        ("abcdef123456", "sequence", "序列"),
        ("2019-05-12ab", "date", "日期"),
        ("aaaaaa11bb", "repeated", "重复"),
        ("Yang1381234", "personal", "姓名"),
    ],
)
async def test_guessable_passwords_are_refused_with_the_reason(
    client, code_for, password, reason, zh
):
    await ask(client)
    code = code_for(NEW)
    r = await sign_up(client, code, password=password, name="Yang")
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["code"] == "password_weak"
    assert (body["errors"][0]["field"], body["errors"][0]["reason"]) == ("password", reason)
    assert zh in body["detail"]
    assert "guess" not in body["detail"] and "use" not in body["detail"]  # no English in zh
    english = await sign_up(
        client, code, password=password, name="Yang", headers={"Accept-Language": "en"}
    )
    assert english.json()["detail"] == REASONS[reason][0]
    assert english.json()["title"] == "The password is too weak"
    # a refused password does not use up a try of the code
    assert (await sign_up(client, code, password="Stone-bridge-47")).status_code == 201


async def test_production_without_an_sms_gateway_says_registration_is_unavailable(
    client, monkeypatch
):
    from grid_backend.notify import channels

    monkeypatch.setattr(channels, "enabled", lambda channel, settings=None: channel == "inbox")
    r = await ask(client)
    assert r.status_code == 503
    assert r.json()["code"] == "unavailable"
    assert "短信" in r.json()["detail"]


async def test_the_code_goes_to_the_gateway_not_to_the_log(client, monkeypatch, caplog):
    import asyncio
    import json

    from grid_backend.notify import channels
    from grid_backend.settings import get_settings

    bodies = []

    async def gateway(reader, writer):
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        )
        bodies.append(json.loads(await reader.readexactly(length)))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(gateway, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    monkeypatch.setenv("GRID_SMS_GATEWAY_URL", f"http://127.0.0.1:{port}/sms")
    get_settings.cache_clear()
    await channels.close_client()
    try:
        caplog.set_level("DEBUG")
        assert (await ask(client)).status_code == 202
    finally:
        await channels.close_client()
        server.close()
        await server.wait_closed()
        monkeypatch.undo()
        get_settings.cache_clear()
    [body] = bodies
    assert body["to"] == NEW and body["id"].startswith("signup-")
    import re

    code = re.search(r"\d{6}", body["text"]).group(0)
    assert code not in caplog.text


async def test_the_demo_password_still_works_for_create_user_and_the_seed(db):
    from grid_backend import seeding

    made = await seeding.create_user(
        phone="13500000001", password="Grid141demo", name="管理员", duty=None, area_code=None
    )
    assert made["phone"] == "13500000001"


async def test_openapi_describes_both_steps(client):
    schema = (await client.get("/schema/openapi.json")).json()
    code = schema["paths"]["/api/v1/auth/register/code"]["post"]
    assert "202" in code["responses"]
    register = schema["paths"]["/api/v1/auth/register"]["post"]
    ref = register["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    fields = schema["components"]["schemas"][ref.split("/")[-1]]["properties"]
    assert set(fields) == {"phone", "code", "password", "name"}
    sent = code["responses"]["202"]["content"]["application/json"]["schema"]["$ref"]
    assert set(schema["components"]["schemas"][sent.split("/")[-1]]["properties"]) == {
        "expires_in",
        "resend_after",
        "code_length",
    }


async def test_the_register_page_says_where_the_code_is_only_without_a_gateway(client, monkeypatch):
    from grid_backend.settings import get_settings

    page = await client.get("/app/register?lang=en")
    assert 'id="code-in-log"' in page.text and "written to the server's log" in page.text
    monkeypatch.setenv("GRID_SMS_GATEWAY_URL", "http://127.0.0.1:9/sms")
    get_settings.cache_clear()
    try:
        page = await client.get("/app/register")
        assert 'id="code-form"' in page.text and 'id="code-in-log"' not in page.text
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
