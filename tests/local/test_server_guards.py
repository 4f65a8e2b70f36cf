"""`gto serve` answers programs on this machine, not web pages: the Host must be ours (DNS rebinding), a browser's
cross-origin request is refused, POST bodies must be declared JSON, idle sockets time out and connections are
capped. No model is loaded here: every request is refused or answered before generation."""

from __future__ import annotations

import io
import socket
import time
from contextlib import redirect_stderr, redirect_stdout

import httpx
import pytest
from typer.testing import CliRunner

import tools.backends.local.server as server_module
from tools.backends.local.server import SOCKET_TIMEOUT_S, Handler, LocalEndpointServer, running
from tools.backends.local.targets import Target
from tools.errors import ToolError

DEFAULT = Target("local/base/gemma-3-270m", "gemma-3-270m")


def nothing_else(name: str) -> Target:
    raise ToolError("not here")


@pytest.fixture
def url():
    with running(DEFAULT, nothing_else) as server:
        yield server.url


def test_loopback_hosts_are_answered_and_others_refused(url: str) -> None:
    port = url.rsplit(":", 1)[1]
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST:{port}"):
        assert httpx.get(url + "/", headers={"Host": host}).status_code == 200, host
    for host in (f"evil.example:{port}", "127.0.0.1:1", "localhost"):
        refused = httpx.get(url + "/", headers={"Host": host})
        assert refused.status_code == 403 and "not served here" in refused.text, host
    post = httpx.post(url + "/v1beta/models/default:generateContent", json={},
                      headers={"Host": f"rebound.example:{port}"})
    assert post.status_code == 403


def test_cross_origin_requests_are_refused(url: str) -> None:
    path = url + "/v1beta/models/elsewhere:generateContent"
    for origin in ("https://evil.example", "null", "http://localhost:1"):
        assert httpx.post(path, json={}, headers={"Origin": origin}).status_code == 403, origin
    same = httpx.post(path, json={}, headers={"Origin": url})
    assert same.status_code == 404  # admitted: refused only for the model it names


def test_post_must_be_declared_json(url: str) -> None:
    path = url + "/v1beta/models/elsewhere:generateContent"
    for content_type in (None, "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; b=x"):
        headers = {"Content-Type": content_type} if content_type else {}
        answer = httpx.post(path, content=b"{}", headers=headers)
        assert answer.status_code == 415, content_type
    assert httpx.post(path, content=b"{}", headers={"Content-Type": "application/json; charset=utf-8"}
                      ).status_code == 404


def test_idle_sockets_time_out_and_connections_are_capped() -> None:
    assert Handler.timeout == SOCKET_TIMEOUT_S == 30
    import threading

    server = LocalEndpointServer(("127.0.0.1", 0), DEFAULT, nothing_else, max_connections=1)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        idle = socket.create_connection(server.server_address)  # holds the only slot, sending nothing
        time.sleep(0.2)
        busy = httpx.get(server.url + "/")
        assert busy.status_code == 503
        idle.close()
        deadline = time.monotonic() + 5
        while httpx.get(server.url + "/").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        server.shutdown()
        server.server_close()


def test_port_0_picks_a_free_port_and_a_public_bind_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_module.generation, "load", lambda base: None)

    def ctrl_c() -> None:
        raise KeyboardInterrupt

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        server_module.serve_forever(DEFAULT, nothing_else, "0.0.0.0", 0, wait=ctrl_c)
    printed = out.getvalue()
    port = int(printed.split("Serving ")[1].split("\n")[0].rsplit(":", 1)[1])
    assert port > 0 and "Warning: listening on 0.0.0.0" in err.getvalue()

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        server_module.serve_forever(DEFAULT, nothing_else, "127.0.0.1", 0, wait=ctrl_c)
    assert "Warning" not in err.getvalue()


def test_gto_serve_passes_port_0_through(monkeypatch: pytest.MonkeyPatch) -> None:
    import tools.backends.local as local
    from agent.cli import app

    seen: list[int] = []
    monkeypatch.setattr(local, "serve", lambda model, host, port: seen.append(port))
    assert CliRunner().invoke(app, ["serve", "gemma-3-270m", "--port", "0"]).exit_code == 0
    assert CliRunner().invoke(app, ["serve", "gemma-3-270m"]).exit_code == 0
    assert seen == [0, 8765]
