"""Image URLs are fetched without server-side request forgery: private, loopback and
link-local addresses refused (also after a redirect), few redirects, a deadline, a size
limit. A loopback test server is itself refused unless the allow-list names it."""

from __future__ import annotations

import ipaddress
import time

import pytest

from backend.errors import InvalidImage, PayloadTooLarge
from backend.settings import Settings
from loaders.fetch import UrlPolicy, fetch_url
from tests.http_server import PICTURE, picture_server

LOOPBACK = UrlPolicy(timeout_s=1.0, max_redirects=3, allow=(ipaddress.ip_network("127.0.0.1/32"),))
MAX = 1_000_000


@pytest.fixture(scope="module")
def server():
    with picture_server() as running:
        yield running


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("http://127.0.0.1:8000/x.png", "127.0.0.1"),
        ("http://localhost/x.png", "127.0.0.1"),
        ("http://10.0.0.5/x.png", "10.0.0.5"),
        ("http://192.168.1.1/x.png", "192.168.1.1"),
        ("http://172.16.0.1/x.png", "172.16.0.1"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254"),
        ("http://[::1]/x.png", "::1"),
        ("http://[::ffff:127.0.0.1]/x.png", "::ffff:7f00:1"),
        ("http://0.0.0.0/x.png", "0.0.0.0"),
    ],
)
def test_private_loopback_and_link_local_addresses_are_refused(url, address):
    with pytest.raises(InvalidImage, match="non-public address") as caught:
        fetch_url(url, max_bytes=MAX)
    assert f"({address})" in caught.value.message


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x.png", "http:///x"])
def test_only_http_urls_with_a_host(url):
    with pytest.raises(InvalidImage, match="must be http"):
        fetch_url(url, max_bytes=MAX)


def test_the_loopback_server_is_refused_unless_allowed(server):
    with pytest.raises(InvalidImage, match="non-public address"):
        fetch_url(f"{server.url}/pic.png", max_bytes=MAX)
    assert fetch_url(f"{server.url}/pic.png", max_bytes=MAX, policy=LOOPBACK) == PICTURE


def test_redirects_are_followed_up_to_the_limit(server):
    assert fetch_url(f"{server.url}/hops/3", max_bytes=MAX, policy=LOOPBACK) == PICTURE
    with pytest.raises(InvalidImage, match="redirected more than 3 times"):
        fetch_url(f"{server.url}/hops/4", max_bytes=MAX, policy=LOOPBACK)


@pytest.mark.parametrize(
    ("path", "address"), [("/to-private", "10.1.2.3"), ("/to-metadata", "169.254.169.254")]
)
def test_each_redirect_is_checked_again(server, path, address):
    before = len(server.requests)
    with pytest.raises(InvalidImage, match=f"non-public address \\({address}\\)"):
        fetch_url(f"{server.url}{path}", max_bytes=MAX, policy=LOOPBACK)
    assert server.requests[before:] == [path]  # the private address was never contacted


@pytest.mark.parametrize("path", ["/silent", "/drip"])
def test_a_slow_server_times_out(server, path):
    started = time.monotonic()
    with pytest.raises(InvalidImage, match="timed out after 1 s"):
        fetch_url(f"{server.url}{path}", max_bytes=MAX, policy=LOOPBACK)
    assert time.monotonic() - started < 3


@pytest.mark.parametrize("path", ["/big-declared", "/big-undeclared"])
def test_too_large_a_picture_is_refused(server, path):
    with pytest.raises(PayloadTooLarge, match=f"larger than {len(PICTURE) + 100} bytes"):
        fetch_url(f"{server.url}{path}", max_bytes=len(PICTURE) + 100, policy=LOOPBACK)


def test_policy_comes_from_settings():
    settings = Settings.from_env(
        {
            "VITRINE_URL_TIMEOUT_S": "2.5",
            "VITRINE_URL_MAX_REDIRECTS": "1",
            "VITRINE_URL_ALLOW_NETWORKS": "127.0.0.0/8, 10.9.0.0/16",
        }
    )
    policy = UrlPolicy.from_settings(settings)
    assert (policy.timeout_s, policy.max_redirects) == (2.5, 1)
    assert policy.permits(ipaddress.ip_address("10.9.3.4"))
    assert not policy.permits(ipaddress.ip_address("10.8.3.4"))
    with pytest.raises(ValueError, match="VITRINE_URL_ALLOW_NETWORKS"):
        Settings.from_env({"VITRINE_URL_ALLOW_NETWORKS": "not-a-network"})
