"""The notify settings are checked at start like every other setting."""

from __future__ import annotations

import pytest

from grid_backend.settings import SettingsError, load_settings

BASE = {"GRID_SECRET_KEY": "s" * 40}


def test_defaults_deliver_every_5_seconds_50_at_a_time():
    s = load_settings(BASE)
    assert (s.notify_interval_seconds, s.notify_timeout_seconds) == (5.0, 5.0)
    assert s.notify_concurrency == 50
    assert s.push_webhook_url == s.sms_gateway_url == s.redis_url == ""


def test_a_push_webhook_with_its_secret_and_an_sms_gateway():
    s = load_settings(
        BASE
        | {
            "GRID_PUSH_WEBHOOK_URL": "https://push.internal/hook",
            "GRID_PUSH_WEBHOOK_SECRET": "k" * 32,
            "GRID_SMS_GATEWAY_URL": "http://sms.internal:8080/send?key=abc",
            "GRID_REDIS_URL": "redis://cache:6379/0",
            "GRID_NOTIFY_TIMEOUT_SECONDS": "2.5",
        }
    )
    assert s.notify_timeout_seconds == 2.5
    assert "abc" not in repr(s) and "kkkk" not in repr(s)  # secrets stay out of logs


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"GRID_PUSH_WEBHOOK_URL": "https://push.internal/hook"}, "GRID_PUSH_WEBHOOK_SECRET"),
        (
            {"GRID_PUSH_WEBHOOK_URL": "https://p/h", "GRID_PUSH_WEBHOOK_SECRET": "short"},
            "GRID_PUSH_WEBHOOK_SECRET",
        ),
        ({"GRID_PUSH_WEBHOOK_URL": "push.internal/hook"}, "GRID_PUSH_WEBHOOK_URL"),
        ({"GRID_SMS_GATEWAY_URL": "ftp://sms"}, "GRID_SMS_GATEWAY_URL"),
        ({"GRID_SMS_GATEWAY_URL": "https://"}, "GRID_SMS_GATEWAY_URL"),
        ({"GRID_REDIS_URL": "localhost:6379"}, "GRID_REDIS_URL"),
        ({"GRID_NOTIFY_INTERVAL_SECONDS": "0"}, "GRID_NOTIFY_INTERVAL_SECONDS"),
        ({"GRID_NOTIFY_TIMEOUT_SECONDS": "120"}, "GRID_NOTIFY_TIMEOUT_SECONDS"),
        ({"GRID_NOTIFY_CONCURRENCY": "0"}, "GRID_NOTIFY_CONCURRENCY"),
        ({"GRID_NOTIFY_CONCURRENCY": "many"}, "GRID_NOTIFY_CONCURRENCY"),
    ],
)
def test_bad_values_name_their_variable(env, variable):
    with pytest.raises(SettingsError) as caught:
        load_settings(BASE | env)
    assert caught.value.name == variable
