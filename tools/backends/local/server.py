"""The local endpoint: an HTTP server (stdlib ThreadingHTTPServer) that answers Gemini's generateContent REST shape,
so google-genai works against a local model by changing only its base URL.

Routes (POST; {version} is any of v1, v1beta, v1beta1):
  /{version}/models/{model}:generateContent                                         Gemini API shape
  /{version}/projects/{p}/locations/{l}/endpoints/{endpoint}:generateContent         Vertex tuned endpoint
  /{version}/projects/{p}/locations/{l}/publishers/{pub}/models/{model}:generateContent
and :streamGenerateContent (one chunk, as SSE with ?alt=sse) and :countTokens on each. {model} or {endpoint} is a
local target (see targets.py) or "default", the target the server was started with. Only that target's base model
and this workspace's jobs tuned from it are served (anything else is 404): a server listening beyond loopback must
not load whatever folder a request names.

    client = genai.Client(vertexai=False, api_key="local", http_options={"base_url": url})
    client.models.generate_content(model="local/jobs/<job_id>/checkpoints/<n>", contents="...")
"""

from __future__ import annotations

import errno
import ipaddress
import json
import re
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

import tools.backends.local.generation as generation
from tools.backends.local.rest import ApiError, parse_body, parse_conversation, parse_request, response
from tools.backends.local.targets import Target
from tools.errors import ToolError

MAX_BODY_BYTES = 10 * 1024 * 1024
# A slow or idle client gives its connection back after this long; at most this many connections are served at once
# (the rest get 503 at once), so a stuck or hostile client cannot hold every thread.
SOCKET_TIMEOUT_S = 30
MAX_CONNECTIONS = 16
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
DEFAULT_NAME = "default"
_ROUTES = (
    re.compile(r"^/v[^/]*/projects/[^/]+/locations/[^/]+/endpoints/(?P<endpoint>[^/:]+):(?P<method>\w+)$"),
    re.compile(r"^/v[^/]*/projects/[^/]+/locations/[^/]+/publishers/(?P<publisher>[^/]+)/models/(?P<model>.+)"
               r":(?P<method>\w+)$"),
    re.compile(r"^/v[^/]*/(?:models|tunedModels)/(?P<model>.+):(?P<method>\w+)$"),
)
METHODS = ("generateContent", "streamGenerateContent", "countTokens")


class LocalEndpointServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], default: Target, resolve: Callable[[str], Target],
                 log: Callable[[str], None] | None = None, max_connections: int = MAX_CONNECTIONS):
        super().__init__(address, Handler)
        self.default, self.resolve, self.log = default, resolve, log
        self.slots = threading.BoundedSemaphore(max_connections)

    @property
    def hosts(self) -> set[str]:
        """The Host header values this server answers to: loopback names and the address it was bound to, with its
        port. Anything else is a DNS-rebinding page in a browser talking to us under a name of its own."""
        port = self.server_address[1]
        names = {*LOOPBACK_NAMES, str(self.server_address[0])}
        return {f"{name}:{port}".lower() for name in names}

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):
            try:
                request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            except OSError:
                pass
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self.slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def target_for(self, name: str) -> Target:
        """The target a request names: the default, or another checkpoint of the same base model (the resolver
        given is limited to those; anything else, even if resolvable, is 404 so that no other model loads)."""
        if name in (DEFAULT_NAME, self.default.name, self.default.job_id):
            return self.default
        try:
            target = self.resolve(name)
            if target.base_model != self.default.base_model:
                raise ToolError("it was tuned from another base model")
        except ToolError as exc:
            raise ApiError(404, f"Model {name!r} is not served here ({exc.message.rstrip('.')}). This server serves "
                                f"{self.default.name!r}; pass that, or {DEFAULT_NAME!r}, as the model.") from None
        return target


def route(path: str) -> tuple[str, str]:
    """(model name, method) of a request path; 404 when it is none of the generateContent routes."""
    for pattern in _ROUTES:
        match = pattern.match(path)
        if match:
            groups = match.groupdict()
            name = groups.get("endpoint") or groups["model"]
            publisher = groups.get("publisher")
            if publisher and publisher != "google":
                name = f"{publisher}/{name}"  # google-genai in Vertex mode turns "local/x" into publishers/local/...
            if groups["method"] not in METHODS:
                raise ApiError(404, f"Method {groups['method']!r} is not served here; use one of {', '.join(METHODS)}.")
            return name, groups["method"]
    raise ApiError(404, f"No route for {path!r}. POST /v1beta/models/{{model}}:generateContent.")


class Handler(BaseHTTPRequestHandler):
    server: LocalEndpointServer
    server_version = "gto-local-endpoint"
    timeout = SOCKET_TIMEOUT_S

    def do_POST(self) -> None:
        try:
            raw = self._body()  # read first, so an early error never leaves the body unread on the socket
            self._admit()
            content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if content_type != "application/json":
                # a browser sends a cross-site form or text/plain POST without asking first; JSON it must ask for
                raise ApiError(415, "Send the request body as JSON with Content-Type: application/json.")
            parts = urlsplit(self.path)
            name, method = route(unquote(parts.path))
            target = self.server.target_for(name)
            if method == "countTokens":
                conversation = parse_conversation(parse_body(raw))
                self._send(200, {"totalTokens": generation.count_tokens(target.base_model, conversation)})
                return
            conversation, options = parse_request(raw)
            output = generation.generate(target.base_model, target.adapter, conversation, options)
            answer = response(output, target.name)
            if method == "streamGenerateContent":
                self._stream(answer, sse="alt=sse" in parts.query)
            else:
                self._send(200, answer)
        except ApiError as exc:
            self._send(exc.code, exc.body())
        except Exception as exc:  # a bug of ours must not stop the server: answer 500 and keep serving
            self._send(500, ApiError(500, f"Internal error: {type(exc).__name__}: {exc}").body())

    def do_GET(self) -> None:
        try:
            self._admit()
        except ApiError as exc:
            self._send(exc.code, exc.body())
            return
        if urlsplit(self.path).path in ("", "/"):
            self._send(200, {"model": self.server.default.name, "generateContent":
                             f"POST {self.server.url}/v1beta/models/{DEFAULT_NAME}:generateContent"})
            return
        self._send(405, ApiError(405, "Use POST for generateContent.").body())

    def _admit(self) -> None:
        """Refuse a request addressed to another host name, or sent by a web page of another origin."""
        host = (self.headers.get("Host") or "").strip().lower()
        allowed = self.server.hosts
        if host not in allowed:
            raise ApiError(403, f"Host {host or '(none)'!r} is not served here; use {sorted(allowed)[0]}.")
        origin = self.headers.get("Origin")
        if origin is not None and origin.strip().lower().removeprefix("http://") not in allowed:
            raise ApiError(403, "Cross-origin requests are refused: call this server from a program, not a web page.")

    def _body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise ApiError(411, "A Content-Length header is required.")
        if int(length) > MAX_BODY_BYTES:
            raise ApiError(413, f"Request body over {MAX_BODY_BYTES} bytes.")
        return self.rfile.read(int(length))

    def _send(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, body: dict[str, Any], sse: bool) -> None:
        data = (f"data: {json.dumps(body)}\r\n\r\n" if sse else json.dumps([body])).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream" if sse else "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.log is not None:
            self.server.log(f"{self.address_string()} {format % args}")


def bind(default: Target, resolve: Callable[[str], Target], host: str, port: int,
         log: Callable[[str], None] | None = None) -> LocalEndpointServer:
    """The server bound to host:port; a ToolError when the address cannot be had (port in use, unknown host)."""
    try:
        return LocalEndpointServer((host, port), default, resolve, log)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ToolError(f"port {port} is in use", "pass --port 0 or another port") from None
        if exc.errno == errno.EACCES:
            raise ToolError(f"port {port} needs more privileges than this process has",
                            "pass --port 0 or a port above 1023") from None
        raise ToolError(f"cannot listen on {host}:{port} ({exc.strerror or exc})",
                        "pass --host 127.0.0.1 (or an address of this machine) and --port 0") from None


@contextmanager
def running(default: Target, resolve: Callable[[str], Target], host: str = "127.0.0.1", port: int = 0,
            log: Callable[[str], None] | None = None) -> Iterator[LocalEndpointServer]:
    """The server answering in a background thread for the duration of the block (port 0: a free port)."""
    server = bind(default, resolve, host, port, log)
    thread = threading.Thread(target=server.serve_forever, name="gto-local-endpoint", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def snippet(url: str, model: str) -> str:
    return (f"from google import genai\n"
            f"client = genai.Client(vertexai=False, api_key=\"local\", http_options={{\"base_url\": \"{url}\"}})\n"
            f"print(client.models.generate_content(model=\"{model}\", contents=\"Hello\").text)")


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host.lower() == "localhost"


def _forever() -> None:
    threading.Event().wait()


def serve_forever(default: Target, resolve: Callable[[str], Target], host: str, port: int,
                  wait: Callable[[], None] = _forever) -> None:
    """Serve until Ctrl-C, printing the URL and a google-genai snippet first. The port is taken before the model
    loads, so a port in use is reported at once; port 0 takes a free one (the URL printed says which)."""
    with running(default, resolve, host, port, log=lambda line: print(line, file=sys.stderr)) as server:
        if not is_loopback(host):
            print(f"Warning: listening on {host}, beyond this machine: anyone who can reach port "
                  f"{server.server_address[1]} can use the model (there is no authentication). Use --host 127.0.0.1 "
                  "unless that is what you want.", file=sys.stderr, flush=True)
        print(f"Loading {default.base_model} ...", flush=True)
        generation.load(default.base_model)
        print(f"Serving {default.name} at {server.url}\n"
              f"POST {server.url}/v1beta/models/{default.name}:generateContent\n\n"
              f"{snippet(server.url, default.name)}\n\nCtrl-C stops it.", flush=True)
        try:
            wait()
        except KeyboardInterrupt:
            print("Stopped.", flush=True)
