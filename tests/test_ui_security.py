"""The web pages' auth (edge.web.security) and the `ui:` section's bind rule."""

import pytest

from edge.config import parse_config
from edge.errors import EdgekitError
from edge.web.security import (
    Guard,
    allowed_hosts,
    check_bind,
    hash_password,
    is_loopback,
    new_token,
    verify_password,
)


def test_a_password_verifies_against_its_hash_and_nothing_else():
    stored = hash_password("correct horse")
    assert stored.startswith("scrypt$")
    assert verify_password("correct horse", stored)
    assert not verify_password("correct hors", stored)
    assert hash_password("correct horse") != stored  # salted


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"])
def test_loopback_addresses(host):
    assert is_loopback(host)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.5", "::", "example.invalid"])
def test_other_addresses_are_not_loopback(host):
    assert not is_loopback(host)


def test_a_non_loopback_bind_without_password_or_token_is_refused_naming_the_key():
    with pytest.raises(EdgekitError, match=r"ui\.bind 0\.0\.0\.0.*ui\.password_hash"):
        check_bind("0.0.0.0", None, None)
    with pytest.raises(EdgekitError, match=r"key 'ui'.*ui\.password_hash or ui\.token_sha256"):
        parse_config({"ui": {"bind": "0.0.0.0"}})
    check_bind("127.0.0.1", None, None)
    _, digest = new_token()
    assert parse_config({"ui": {"bind": "0.0.0.0", "token_sha256": digest}}).ui.bind == "0.0.0.0"
    assert parse_config({"ui": {"bind": "0.0.0.0", "password_hash": hash_password("pw")}}).ui.password_hash


def test_a_malformed_password_hash_is_refused_at_load():
    with pytest.raises(EdgekitError, match=r"ui\.password_hash.*edgekit ui hash-password"):
        parse_config({"ui": {"password_hash": "plaintext"}})


def test_the_ui_is_off_unless_configured():
    assert parse_config({}).ui is None
    assert parse_config({"ui": {}}).ui.bind == "127.0.0.1"


def test_guard_sessions_csrf_and_credentials():
    token, digest = new_token()
    guard = Guard(hash_password("pw"), digest)
    assert not guard.open_access
    assert guard.credentials_ok("pw") and guard.credentials_ok(token)
    assert not guard.credentials_ok("wrong") and not guard.credentials_ok("")
    assert guard.bearer_ok(f"Bearer {token}") and not guard.bearer_ok("Bearer nope") and not guard.bearer_ok(None)
    sid = guard.new_session()
    assert guard.session_ok(sid) and not guard.session_ok("forged")
    csrf = guard.csrf_token(sid)
    assert guard.csrf_ok(sid, csrf)
    assert not guard.csrf_ok(sid, None) and not guard.csrf_ok(guard.new_session(), csrf)
    guard.end_session(sid)
    assert not guard.session_ok(sid)
    assert Guard().open_access


def test_loopback_binds_accept_only_loopback_host_headers():
    assert "evil.example" not in allowed_hosts("127.0.0.1")
    assert allowed_hosts("0.0.0.0") == ["*"]


def test_edgekit_ui_hash_password_prints_a_hash_the_config_takes():
    import yaml
    from click.testing import CliRunner

    from edge.cli.ui import ui

    out = CliRunner().invoke(ui, ["hash-password"], input="pw 1\npw 1\n")
    assert out.exit_code == 0
    line = out.output.strip().splitlines()[-1]
    stored = yaml.safe_load(line)["password_hash"]
    assert verify_password("pw 1", stored)
    assert parse_config({"ui": {"bind": "0.0.0.0", "password_hash": stored}}).ui.password_hash == stored
    out = CliRunner().invoke(ui, ["hash-password"], input="a\nb\n")
    assert out.exit_code != 0 or "password_hash" not in out.output


def test_edgekit_ui_hash_password_token_prints_a_token_and_its_digest():
    import yaml
    from click.testing import CliRunner

    from edge.cli.ui import ui
    from edge.web.security import token_sha256

    out = CliRunner().invoke(ui, ["hash-password", "--token"])
    token = out.output.split("shown once): ")[1].split()[0]
    digest = yaml.safe_load(out.output.strip().splitlines()[-1])["token_sha256"]
    assert token_sha256(token) == digest and Guard(None, digest).credentials_ok(token)
