"""Sign-up, sign-in, token rotation and its abuse, as a phone app sees them."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from grid_backend.core import clock
from grid_backend.people.phones import normalise_phone

PASSWORD = "Patrol2024ok"


@pytest.fixture
def register(client, code_for):
    """Sign up through both steps, with the code read from the texted SMS."""

    async def sign_up(client=client, phone="13812345678", password=PASSWORD, name="杨居民"):
        asked = await client.post("/api/v1/auth/register/code", json={"phone": phone})
        assert asked.status_code == 202, asked.text
        code = code_for(normalise_phone(phone))
        return await client.post(
            "/api/v1/auth/register",
            json={"phone": phone, "code": code, "password": password, "name": name},
        )

    return sign_up


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13812345678", "13812345678"),
        ("+86 138 1234 5678", "13812345678"),
        ("+86-138-1234-5678", "13812345678"),
        ("0086 13812345678", "13812345678"),
        ("8613812345678", "13812345678"),
        ("(138) 1234-5678", "13812345678"),
    ],
)
def test_phone_numbers_are_normalised(raw, expected):
    assert normalise_phone(raw) == expected


@pytest.mark.parametrize(
    "raw", ["12812345678", "1381234567", "138123456789", "abc", "+1 415 555 0100", ""]
)
def test_bad_phone_numbers_are_refused(raw):
    from grid_backend.core.errors import DomainError

    with pytest.raises(DomainError) as err:
        normalise_phone(raw)
    assert err.value.code == "phone_invalid"


async def test_register_then_login_with_a_differently_written_number(client, register):
    r = await register(phone="+86 138-1234-5678")
    assert r.status_code == 201, r.text
    assert r.json()["account"]["phone"] == "13812345678"
    r = await client.post(
        "/api/v1/auth/login", json={"phone": "138 1234 5678", "password": PASSWORD}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) >= {"access_token", "refresh_token", "expires_in", "account"}
    assert body["expires_in"] == 900
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["account"]["name"] == "杨居民"
    assert me.json()["assignments"] == []
    assert me.json()["is_staff"] is False


async def test_password_is_stored_as_argon2_not_plain(client, register):
    from grid_backend.people.tables import Account

    await register()
    row = await Account.select(Account.password_hash).first().run()
    assert row["password_hash"].startswith("$argon2id$")
    assert PASSWORD not in row["password_hash"]


async def test_a_registered_number_cannot_be_registered_again(client, register, texts, test_clock):
    await register(phone="13812345678")
    test_clock.advance(61)  # one code a minute per phone
    r = await register(phone="+8613812345678")  # no new code: the first one is used up
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "code_invalid"
    assert "有人尝试用您的手机号注册" in texts("13812345678")[-1]


@pytest.mark.parametrize(
    "password", ["short1", "onlyletters", "1234567890", "a1a1a1a1a1", "xx12345678"]
)
async def test_weak_passwords_are_refused_naming_the_field(client, password, register):
    r = await register(phone="13812345678", password=password)
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "password_weak"
    assert body["errors"][0]["field"] == "password"


async def test_problem_messages_follow_accept_language(client):
    r = await client.post(
        "/api/v1/auth/login",
        json={"phone": "13800000000", "password": "Wrong12345"},
        headers={"Accept-Language": "en-US,en;q=0.9"},
    )
    assert r.status_code == 401
    assert r.json()["title"] == "Wrong phone number or password"
    r = await client.post(
        "/api/v1/auth/login", json={"phone": "13800000000", "password": "Wrong12345"}
    )
    assert r.json()["title"] == "手机号或密码错误"
    assert r.json()["code"] == "invalid_credentials"


async def test_malformed_body_lists_the_field(client):
    r = await client.post("/api/v1/auth/login", json={"phone": 13812345678, "password": "x"})
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "validation_failed"
    assert body["errors"][0]["field"] == "phone"
    r = await client.post(
        "/api/v1/auth/login", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code in (400, 422)
    assert r.headers["content-type"].startswith("application/problem+json")


async def test_refresh_rotates_and_reuse_revokes_the_family(client, register):
    first = (await register()).json()
    r = await client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert r.status_code == 200
    second = r.json()
    assert second["refresh_token"] != first["refresh_token"]
    # a stolen copy of the first token is replayed: the whole family dies
    r = await client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert r.status_code == 401
    assert r.json()["code"] == "refresh_token_reused"
    r = await client.post("/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert r.status_code == 401
    assert r.json()["code"] == "token_invalid"


async def test_parallel_refreshes_with_one_token_yield_one_new_token(client, register):
    first = (await register()).json()
    results = await asyncio.gather(
        *[
            client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
            for _ in range(5)
        ]
    )
    assert sorted(r.status_code for r in results).count(200) <= 1


async def test_refresh_tokens_are_stored_hashed(client, register):
    from grid_backend.people.tables import RefreshToken

    body = (await register()).json()
    stored = await RefreshToken.select(RefreshToken.token_hash).run()
    assert all(body["refresh_token"] != r["token_hash"] for r in stored)


async def test_logout_revokes_the_session(client, register):
    body = (await register()).json()
    r = await client.post("/api/v1/auth/logout", json={"refresh_token": body["refresh_token"]})
    assert r.status_code == 204
    r = await client.post("/api/v1/auth/refresh", json={"refresh_token": body["refresh_token"]})
    assert r.status_code == 401


async def test_access_token_expires(client, register):
    body = (await register()).json()
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    assert (await client.get("/api/v1/me", headers=headers)).status_code == 200
    later = clock.now() + timedelta(minutes=16)
    clock.set_clock(lambda: later)
    r = await client.get("/api/v1/me", headers=headers)
    assert r.status_code == 401
    assert r.json()["code"] == "token_invalid"


async def test_requests_without_or_with_forged_tokens_are_refused(client):
    assert (await client.get("/api/v1/me")).json()["code"] == "unauthenticated"
    import jwt

    forged = jwt.encode(
        {"sub": "1", "typ": "access", "exp": 9999999999}, "x" * 40, algorithm="HS256"
    )
    r = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {forged}"})
    assert r.status_code == 401
