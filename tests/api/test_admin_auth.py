"""Admin routes need a bearer token made with ``vitrine admin create-token``: none or an
unknown one is 401, a revoked one 403; shoppers' routes stay open."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from loaders.cli import main
from tests.api.conftest import create_token

ADMIN_ROUTES = [
    ("get", "/api/admin/index"),
    ("get", "/api/admin/uploads/some-job"),
    ("post", "/api/admin/uploads"),
    ("delete", "/api/admin/products/VT-1F455"),
]


@pytest.mark.parametrize(("method", "path"), ADMIN_ROUTES)
@pytest.mark.parametrize(
    "authorization", [None, "Bearer ", "Bearer vt_not-a-token", "Basic dXNlcjpwdw=="]
)
def test_no_or_unknown_token_is_401(client, method, path, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    response = getattr(client, method)(path, headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_public_routes_stay_open(client):
    assert client.get("/api/search?q=shirt").status_code == 200
    assert client.get("/api/products?limit=1").status_code == 200
    assert client.get("/health").status_code == 200


def test_revoked_token_is_403_and_others_keep_working(admin, settings_env):
    other = create_token(settings_env, "deploy-bot")
    assert admin.client.get("/api/admin/index", headers=admin.headers).status_code == 200

    result = CliRunner().invoke(main, ["admin", "revoke-token", "ci"], env=settings_env)
    assert result.exit_code == 0 and "revoked" in result.output

    response = admin.client.get("/api/admin/index", headers=admin.headers)
    assert response.status_code == 403
    assert response.get_json()["error"] == {
        "code": "token_revoked",
        "message": "admin token 'ci' has been revoked",
    }
    still = admin.client.get("/api/admin/index", headers={"Authorization": f"Bearer {other}"})
    assert still.status_code == 200
