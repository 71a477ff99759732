"""``vitrine admin``: a token is printed once and stored only as its hash; tokens are listed
(never their secrets) and revoked by name."""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from click.testing import CliRunner

from backend.catalog import db
from loaders.cli import main


def vitrine(settings_env, *args):
    return CliRunner().invoke(main, list(args), env=settings_env)


def test_create_list_and_revoke_tokens(settings, settings_env):
    created = vitrine(settings_env, "admin", "create-token", "ci")
    assert created.exit_code == 0, created.output
    token = created.stdout.strip()
    assert token.startswith("vt_") and len(token) > 40
    assert "shown only once" in created.stderr

    engine = db.make_engine(settings.database_url)
    try:
        with engine.connect() as connection:
            stored = connection.execute(sa.text("SELECT name, token_hash FROM admin_tokens")).all()
    finally:
        engine.dispose()
    assert stored == [("ci", hashlib.sha256(token.encode()).hexdigest())]  # never the secret

    assert vitrine(settings_env, "admin", "create-token", "ops").exit_code == 0
    listed = vitrine(settings_env, "admin", "list-tokens")
    assert listed.exit_code == 0
    lines = listed.output.splitlines()
    assert lines[0].split() == ["name", "created", "last", "used", "status"]
    assert lines[1].split()[0] == "ci" and lines[1].split()[-2:] == ["never", "active"]
    assert lines[2].split()[0] == "ops"
    assert token not in listed.output

    assert vitrine(settings_env, "admin", "revoke-token", "ci").exit_code == 0
    after = vitrine(settings_env, "admin", "list-tokens").output.splitlines()
    assert after[1].split()[-1] == "revoked" and after[2].split()[-1] == "active"


def test_token_commands_explain_their_refusals(settings_env):
    assert vitrine(settings_env, "admin", "list-tokens").output.startswith("no tokens")
    assert vitrine(settings_env, "admin", "create-token", "ci").exit_code == 0
    again = vitrine(settings_env, "admin", "create-token", "ci")
    assert again.exit_code == 3 and "exists already" in again.output
    unknown = vitrine(settings_env, "admin", "revoke-token", "nobody")
    assert unknown.exit_code == 3 and "no token named 'nobody'" in unknown.output
