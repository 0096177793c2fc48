"""A stand-in for the deployment routes of the API that the edge runtime calls, in a thread, with faults to inject."""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

DEVICE_TOKEN = "wtd_" + "k" * 43


@dataclass
class Published:
    """One deployment's current version as the fake serves it."""

    name: str
    version: int
    model: bytes
    threshold: float
    phrase: str
    report_audio: bool = True
    # What the model route sends instead of `model` (a fault), and the sha/size the manifest claims instead.
    served: bytes | None = None
    claimed_sha256: str | None = None
    claimed_size: int | None = None

    @property
    def sha256(self) -> str:
        return self.claimed_sha256 or hashlib.sha256(self.model).hexdigest()

    def manifest(self) -> dict[str, Any]:
        return {
            "deployment": self.name,
            "version": self.version,
            "job_id": "00000000-0000-0000-0000-000000000001",
            "dataset": "kitchen",
            "phrase": self.phrase,
            "threshold": self.threshold,
            "window_s": 1.0,
            "hop_s": 0.1,
            "refractory_s": 1.0,
            "sample_rate": 16000,
            "near_miss_ratio": 0.7,
            "report_audio": self.report_audio,
            "model": {
                "precision": "fp32",
                "sha256": self.sha256,
                "size_bytes": self.claimed_size or len(self.model),
                "url": f"/deployments/{self.name}/models/{self.sha256}",
            },
            "updated_at": "2026-01-01T00:00:00Z",
        }


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    status: int = 0


@dataclass
class FakeApi:
    """The bundle, model, report and list routes over real HTTP on 127.0.0.1; `down()` closes the port."""

    token: str | None = DEVICE_TOKEN
    deployments: dict[str, Published] = field(default_factory=dict)
    requests: list[Request] = field(default_factory=list)
    reports: list[dict[str, Any]] = field(default_factory=list)
    webhooks: list[dict[str, Any]] = field(default_factory=list)
    report_status: int = 201
    port: int = 0
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def publish(self, name: str, model: Path | bytes, *, threshold: float = 0.5, phrase: str = "hey kitchen", **faults):
        """Make `model` the deployment's next version (version + 1); returns it."""
        data = model.read_bytes() if isinstance(model, Path) else model
        with self._lock:
            previous = self.deployments.get(name)
            published = Published(name, previous.version + 1 if previous else 1, data, threshold, phrase, **faults)
            self.deployments[name] = published
        return published

    def up(self) -> FakeApi:
        """Listen (again, on the same port after down())."""
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                api._handle(self, "GET")

            def do_POST(self) -> None:
                api._handle(self, "POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def down(self) -> None:
        """Stop listening: connections are refused until up()."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def model_downloads(self) -> int:
        return sum(1 for request in self.requests if "/models/" in request.path)

    def polls(self, name: str) -> list[Request]:
        return [request for request in self.requests if request.path == f"/deployments/{name}/bundle"]

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        path = unquote(urlsplit(handler.path).path)
        record = Request(method, path, {key.lower(): value for key, value in handler.headers.items()})
        with self._lock:
            self.requests.append(record)
        status, body, headers = self._route(handler, method, path, record)
        record.status = status
        handler.send_response(status)
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def _route(self, handler, method: str, path: str, record: Request) -> tuple[int, bytes, dict[str, str]]:
        if path == "/hook" and method == "POST":
            self.webhooks.append(json.loads(handler.rfile.read(int(handler.headers["Content-Length"]))))
            return 204, b"", {}
        if self.token and record.headers.get("authorization") != f"Bearer {self.token}":
            return _json(401, {"status_code": 401, "detail": "unknown or revoked token"})
        parts = path.strip("/").split("/")
        if method == "GET" and parts == ["deployments"]:
            return _json(200, [{"name": name} for name in self.deployments])
        if method == "GET" and len(parts) == 3 and parts[0] == "deployments" and parts[2] == "bundle":
            published = self.deployments.get(parts[1])
            if published is None:
                return _json(404, {"status_code": 404, "detail": "no such deployment"})
            body = json.dumps(published.manifest()).encode()
            etag = f'"{hashlib.sha256(body).hexdigest()}"'
            if record.headers.get("if-none-match") == etag:
                return 304, b"", {"ETag": etag}
            return 200, body, {"ETag": etag, "Content-Type": "application/json"}
        if method == "GET" and len(parts) == 4 and parts[0] == "deployments" and parts[2] == "models":
            published = self.deployments.get(parts[1])
            if published is None or parts[3] != published.sha256:
                return _json(404, {"status_code": 404, "detail": "no such model"})
            data = published.served if published.served is not None else published.model
            return 200, data, {"Content-Type": "application/octet-stream"}
        if method == "POST" and parts == ["devices", "self", "reports"]:
            length = int(handler.headers["Content-Length"])
            form = _multipart(handler.headers["Content-Type"], handler.rfile.read(length))
            with self._lock:
                self.reports.append(form)
            if self.report_status != 201:
                return _json(self.report_status, {"status_code": self.report_status, "detail": "not now"})
            return _json(201, {"counted": True, "clip_id": None})
        return _json(404, {"status_code": 404, "detail": f"no route {method} {path}"})


def _json(status: int, body: Any) -> tuple[int, bytes, dict[str, str]]:
    return status, json.dumps(body).encode(), {"Content-Type": "application/json"}


def _multipart(content_type: str, body: bytes) -> dict[str, Any]:
    """A multipart/form-data body as {field: text, or bytes for a file part}."""
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    form: dict[str, Any] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        form[name] = payload if part.get_filename() else payload.decode()
    return form
