"""The gateway behind TLS and the token, as AgentRpc is: HTTPS with the host's certificate (and
mutual TLS with --tls-client-ca), the bearer token on /v1, /healthz open; agentctl over TLS."""

import asyncio
import http.client
import ssl
import subprocess

import pytest
from conftest import WAIT, binary, our_host_with_http
from test_interop import make_certificates, run


def https(address: str, method: str, path: str, context: ssl.SSLContext, body: str | None = None, token: str | None = None):
    host, port = address.rsplit(":", 1)
    connection = http.client.HTTPSConnection(host, int(port), context=context, timeout=WAIT)
    try:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def test_gateway_over_tls_with_a_token(tmp_path):
    certificates = make_certificates(tmp_path)
    trusting = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))

    async def scenario():
        async with our_host_with_http(
            "--tls-cert", str(tmp_path / "host.pem"), "--tls-key", str(tmp_path / "host.key"), "--auth-token", "tls-token"
        ) as (address, http_address):
            assert await asyncio.to_thread(https, http_address, "GET", "/healthz", trusting) == (200, '{"status":"serving"}')
            status, body = await asyncio.to_thread(https, http_address, "GET", "/v1/agent-types", trusting)
            assert status == 401 and "unauthenticated" in body, body
            status, body = await asyncio.to_thread(
                https, http_address, "POST", "/v1/agents/nobody/k?type=X", trusting, body="{}", token="tls-token"
            )
            assert status == 404 and "no worker serves agent type 'nobody'" in body, body
            # Plain HTTP to the TLS listener gets nowhere.
            host, port = http_address.rsplit(":", 1)
            plain = http.client.HTTPConnection(host, int(port), timeout=WAIT)
            with pytest.raises(Exception):
                plain.request("GET", "/healthz")
                plain.getresponse().read()
            plain.close()
            # An unverified certificate is refused by the client.
            with pytest.raises(ssl.SSLError):
                await asyncio.to_thread(https, http_address, "GET", "/healthz", ssl.create_default_context())

            def agentctl(*extra: str):
                return subprocess.run(
                    [binary("agentctl"), "agents", "--server", f"localhost:{address.rsplit(':', 1)[1]}", *extra],
                    capture_output=True, text=True, timeout=WAIT,
                )

            over_tls = await asyncio.to_thread(agentctl, "--tls-ca", str(tmp_path / "ca.pem"), "--token", "tls-token")
            assert over_tls.returncode == 0, over_tls.stderr
            plaintext = await asyncio.to_thread(agentctl, "--token", "tls-token")
            assert plaintext.returncode == 1 and plaintext.stderr.startswith("agentctl: error:"), plaintext.stderr

    assert certificates
    run(scenario())


def test_gateway_with_mutual_tls(tmp_path):
    make_certificates(tmp_path)
    without_certificate = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    with_certificate = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    with_certificate.load_cert_chain(str(tmp_path / "client.pem"), str(tmp_path / "client.key"))

    async def scenario():
        async with our_host_with_http(
            "--tls-cert", str(tmp_path / "host.pem"), "--tls-key", str(tmp_path / "host.key"),
            "--tls-client-ca", str(tmp_path / "ca.pem"),
        ) as (_, http_address):
            assert await asyncio.to_thread(https, http_address, "GET", "/healthz", with_certificate) == (200, '{"status":"serving"}')
            with pytest.raises((ssl.SSLError, ConnectionError, http.client.HTTPException)):
                await asyncio.to_thread(https, http_address, "GET", "/healthz", without_certificate)

    run(scenario())
