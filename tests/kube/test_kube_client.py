"""KubeClient: requests, errors, throttling, watch stream parsing, TLS and token rotation.

Against the in-memory API server: JSON requests, the ApiError subclass per
status (messages never carry the request body), 429/503 retried after
Retry-After a bounded number of times, 500 not retried, an unreachable server.
Against tiny aiohttp servers on loopback: the watch line parser under any
chunking and with events larger than aiohttp's line limit, a refused watch,
TLS with a client certificate from a kubeconfig, and the in-cluster service
account and a kubeconfig token file, both re-read after a 401; credentials that
cannot be read for a while are an ``Unreachable`` error, not a crash; cookies a server
sets are never sent back.
"""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
from pathlib import Path

import pytest
import trustme
from aiohttp import web
from kubernetes_asyncio.config import incluster_config
from kubetesting import helmrelease, helmreleases, plain_client, tiny_server

from apiserver.server import ApiServer
from controller.kube.client import (
    THROTTLE_RETRIES,
    AlreadyExists,
    ApiError,
    Conflict,
    Invalid,
    KubeClient,
    NotFound,
    Unreachable,
    resource_path,
)
from controller.settings import KubeSettings

pytestmark = pytest.mark.usefixtures("crds")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("", "v1", "secrets"), "/api/v1/secrets"),
        (("", "v1", "secrets", "ns"), "/api/v1/namespaces/ns/secrets"),
        (("apps", "v1", "deployments", "ns", "web"), "/apis/apps/v1/namespaces/ns/deployments/web"),
        (
            ("flux.weave.works", "v1beta1", "helmreleases", "ns", "hr", "status"),
            "/apis/flux.weave.works/v1beta1/namespaces/ns/helmreleases/hr/status",
        ),
        (("coordination.k8s.io", "v1", "leases", "ns", "a/b"), None),
    ],
)
def test_resource_path(args: tuple[str, ...], expected: str | None) -> None:
    path = resource_path(*args)
    if expected is None:
        assert path.endswith("/leases/a%2Fb")  # a name can never escape its segment
    else:
        assert path == expected


async def test_create_get_and_not_found(client: KubeClient) -> None:
    created = await client.request("POST", helmreleases("default"), body=helmrelease("a"))
    assert created["metadata"]["resourceVersion"]
    fetched = await client.get(helmreleases("default", "a"))
    assert fetched is not None
    assert fetched["spec"]["chart"] == helmrelease("a")["spec"]["chart"]
    assert await client.get(helmreleases("default", "missing")) is None
    with pytest.raises(NotFound) as caught:
        await client.request("DELETE", helmreleases("default", "missing"))
    assert caught.value.status == 404


async def test_errors_map_to_subclasses_without_the_request_body(client: KubeClient) -> None:
    secret_value = "s3cr3t-password-value"
    body = helmrelease("a", values={"password": secret_value})
    await client.request("POST", helmreleases("default"), body=body)
    with pytest.raises(AlreadyExists) as exists:
        await client.request("POST", helmreleases("default"), body=body)
    assert isinstance(exists.value, Conflict)
    stale = {**body, "metadata": {**body["metadata"], "resourceVersion": "1"}}
    with pytest.raises(Conflict) as conflict:
        await client.request("PUT", helmreleases("default", "a"), body=stale)
    assert conflict.value.reason == "Conflict"
    with pytest.raises(Invalid) as invalid:
        await client.request("POST", helmreleases("default"), body=helmrelease("Bad_Name"))
    assert invalid.value.status == 422
    for error in (exists.value, conflict.value, invalid.value):
        assert secret_value not in str(error)
        assert secret_value not in repr(error)


@pytest.mark.parametrize("status", [429, 503])
async def test_throttling_is_retried_after_retry_after(
    client: KubeClient, api: ApiServer, status: int
) -> None:
    api.faults.fail_next(2, "get", "helmreleases", status=status, retry_after=0)
    await client.request("POST", helmreleases("default"), body=helmrelease("a"))
    assert await client.get(helmreleases("default", "a")) is not None
    codes = [r.code for r in api.audit.find(verb="get", resource="helmreleases")]
    assert codes == [status, status, 200]


async def test_throttling_retries_are_bounded(client: KubeClient, api: ApiServer) -> None:
    api.faults.fail_next(THROTTLE_RETRIES + 5, "list", "helmreleases", status=429, retry_after=0)
    with pytest.raises(ApiError) as caught:
        await client.request("GET", helmreleases())
    assert caught.value.status == 429
    assert len(api.audit.find(verb="list", resource="helmreleases")) == THROTTLE_RETRIES + 1


async def test_server_errors_are_not_retried_by_request(client: KubeClient, api: ApiServer) -> None:
    api.faults.fail_next(1, "list", "helmreleases", status=500)
    with pytest.raises(ApiError) as caught:
        await client.request("GET", helmreleases())
    assert caught.value.status == 500
    assert (await client.request("GET", helmreleases()))["items"] == []


async def _no_content(request: web.Request) -> web.Response:
    return web.Response(status=204)


async def test_unreachable_server_raises_unreachable(tmp_path: Path) -> None:
    async with tiny_server(_no_content) as port:
        pass  # the port is closed again: nothing listens there now
    kube = await plain_client(tmp_path, f"http://127.0.0.1:{port}", {"token": "t"})
    async with kube:
        with pytest.raises(Unreachable):
            await kube.request("GET", "/version")


async def test_helm_env_points_helm_at_the_same_kubeconfig(tmp_path: Path) -> None:
    async with await plain_client(tmp_path, "http://127.0.0.1:1", {"token": "t"}) as kube:
        assert kube.helm_env() == {
            "KUBECONFIG": str(tmp_path / "kubeconfig"),
            "HELM_KUBECONTEXT": "ctx",
        }


def event_line(index: int, padding: int = 0) -> bytes:
    obj = {"metadata": {"name": f"o{index}", "resourceVersion": str(index)}, "pad": "x" * padding}
    return json.dumps({"type": "ADDED", "object": obj}).encode() + b"\n"


async def test_watch_stream_parses_events_across_any_chunking(tmp_path: Path) -> None:
    body = b"".join(event_line(i) for i in range(5)) + b"\n" + event_line(5, padding=1 << 20)
    body += event_line(6).rstrip(b"\n")  # the last line may lack its newline
    seen_params: dict[str, str] = {}

    async def handler(request: web.Request) -> web.StreamResponse:
        seen_params.update(request.query)
        response = web.StreamResponse()
        await response.prepare(request)
        for start in range(0, len(body), 7919):  # chunks that split lines anywhere
            await response.write(body[start : start + 7919])
        await response.write_eof()
        return response

    async with (
        tiny_server(handler) as port,
        await plain_client(tmp_path, f"http://127.0.0.1:{port}", {"token": "t"}) as kube,
        kube.watch_stream("/api/v1/pods", {"resourceVersion": "3"}) as events,
    ):
        names = [event["object"]["metadata"]["name"] async for event in events]
    assert names == [f"o{i}" for i in range(7)]
    assert seen_params == {"resourceVersion": "3", "watch": "true"}


async def test_refused_watch_raises_on_open(tmp_path: Path) -> None:
    async def handler(request: web.Request) -> web.Response:
        status = {"kind": "Status", "reason": "Forbidden", "message": "no", "code": 403}
        return web.json_response(status, status=403)

    async with (
        tiny_server(handler) as port,
        await plain_client(tmp_path, f"http://127.0.0.1:{port}", {"token": "t"}) as kube,
    ):
        with pytest.raises(ApiError) as caught:
            async with kube.watch_stream("/api/v1/pods", {}):
                pytest.fail("a refused watch must not open")
    assert (caught.value.status, caught.value.reason) == (403, "Forbidden")


async def test_cookies_a_server_sets_are_not_sent_back(tmp_path: Path) -> None:
    """As client-go keeps none: nothing of one answer rides along with the next request."""
    sent: list[str | None] = []

    async def handler(request: web.Request) -> web.Response:
        sent.append(request.headers.get("Cookie"))
        response = web.json_response({"kind": "Status"})
        response.set_cookie("session", "from-the-server")
        return response

    async with (
        tiny_server(handler) as port,
        # a host name: aiohttp's default jar would keep the cookies of a name, not of an IP
        await plain_client(tmp_path, f"http://localhost:{port}", {"token": "t"}) as kube,
    ):
        await kube.request("GET", "/api")
        await kube.request("GET", "/api")
    assert sent == [None, None]


def _ok(request: web.Request) -> web.Response:
    return web.json_response({"authorization": request.headers.get("Authorization")})


async def test_tls_with_ca_and_client_certificate_from_kubeconfig(tmp_path: Path) -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    ca.configure_trust(server_context)
    server_context.verify_mode = ssl.CERT_REQUIRED  # the client must present its certificate
    client_cert = ca.issue_cert("operator@example")

    def data(blob: bytes) -> str:
        return base64.b64encode(blob).decode()

    async def handler(request: web.Request) -> web.Response:
        return _ok(request)

    async with tiny_server(handler, server_context) as port:
        kube = await plain_client(
            tmp_path,
            f"https://127.0.0.1:{port}",
            {
                "client-certificate-data": data(client_cert.cert_chain_pems[0].bytes()),
                "client-key-data": data(client_cert.private_key_pem.bytes()),
            },
            **{"certificate-authority-data": data(ca.cert_pem.bytes())},
        )
        async with kube:
            assert await kube.request("GET", "/version") == {"authorization": None}


class RotatingToken:
    """A server's view of the one valid bearer token, and the file it is handed out in."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.valid = "first"
        path.write_text(self.valid)

    def rotate(self) -> None:
        self.valid = "second"
        self.path.write_text("second\n")

    async def handler(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.valid}":
            return web.json_response({"reason": "Unauthorized", "code": 401}, status=401)
        return _ok(request)


async def assert_follows_rotation(kube: KubeClient, token: RotatingToken) -> None:
    assert await kube.request("GET", "/version") == {"authorization": "Bearer first"}
    token.rotate()
    assert await kube.request("GET", "/version") == {"authorization": "Bearer second"}


async def test_in_cluster_token_is_reread_after_a_401(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    ca_file = tmp_path / "ca.crt"
    ca.cert_pem.write_to_path(str(ca_file))
    token = RotatingToken(tmp_path / "token")
    async with tiny_server(token.handler, server_context) as port:
        monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(port))
        monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(token.path))
        monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(ca_file))
        async with await KubeClient.create(KubeSettings()) as kube:
            assert kube.helm_env() == {}
            await assert_follows_rotation(kube, token)


async def test_kubeconfig_token_file_is_reread_after_a_401(tmp_path: Path) -> None:
    token = RotatingToken(tmp_path / "token")
    async with tiny_server(token.handler) as port:
        url = f"http://127.0.0.1:{port}"
        async with await plain_client(tmp_path, url, {"tokenFile": str(token.path)}) as kube:
            await assert_follows_rotation(kube, token)


async def test_credentials_that_cannot_be_read_are_unreachable_until_they_come_back(
    tmp_path: Path,
) -> None:
    token = RotatingToken(tmp_path / "token")
    async with tiny_server(token.handler) as port:
        url = f"http://127.0.0.1:{port}"
        async with await plain_client(tmp_path, url, {"tokenFile": str(token.path)}) as kube:
            assert await kube.request("GET", "/version") == {"authorization": "Bearer first"}
            token.valid = "second"  # the token expired ...
            token.path.unlink()  # ... and its file is being replaced
            for _ in range(2):  # every attempt re-reads the credentials, none crashes
                with pytest.raises(Unreachable) as caught:
                    await kube.request("GET", "/version")
                assert (caught.value.reason, caught.value.message) == (
                    "CredentialsUnavailable",
                    "FileNotFoundError",
                )
            token.rotate()
            assert await kube.request("GET", "/version") == {"authorization": "Bearer second"}


async def test_request_timeout_raises_unreachable(tmp_path: Path) -> None:
    never = asyncio.Event()  # set only once the client gave up

    async def handler(request: web.Request) -> web.StreamResponse:
        await never.wait()
        return web.Response()

    async with tiny_server(handler) as port:
        kube = await plain_client(tmp_path, f"http://127.0.0.1:{port}", {"token": "t"})
        async with kube:
            with pytest.raises(Unreachable) as caught:
                await kube.request("GET", "/version", timeout=0.05)
        never.set()  # let the handler finish before the server stops
    assert caught.value.reason == "Timeout"
