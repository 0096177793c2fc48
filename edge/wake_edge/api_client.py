"""The wake-training API as a device sees it: the bundle manifest, model files, reports and the deployment list."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import IO, Any
from urllib.parse import quote

import httpx

from wake_edge import __version__
from wake_edge.manifest import Manifest, ManifestError

DEVICE_TOKEN_PREFIX = "wtd_"
TIMEOUT_S = 10.0
DOWNLOAD_CHUNK = 64 * 1024


class ServerError(Exception):
    """The server answered with an error, or with something that is not what the contract says."""

    def __init__(self, message: str, status_code: int | None = None, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class ManifestFetch:
    """A poll's answer: a new manifest and its ETag, or nothing new (304)."""

    manifest: Manifest | None
    etag: str | None


@dataclass(frozen=True)
class Download:
    """What went into a download's file: how many bytes and their sha256."""

    size_bytes: int
    sha256: str


def is_device_token(token: str | None) -> bool:
    """A device token (`wtd_…`) may post reports; an admin token or none may not."""
    return bool(token) and str(token).startswith(DEVICE_TOKEN_PREFIX)


class ApiClient:
    """Blocking HTTP calls to one server with one token (each thread that polls or posts keeps its own)."""

    def __init__(
        self,
        server: str,
        token: str | None,
        *,
        timeout_s: float = TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.server = server.rstrip("/")
        self.token = token or None
        headers = {"User-Agent": f"wake-edge/{__version__}"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        self._http = httpx.Client(base_url=self.server, headers=headers, timeout=timeout_s, transport=transport)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def fetch_manifest(
        self, deployment: str, *, etag: str | None = None, running: Manifest | None = None
    ) -> ManifestFetch:
        """GET the deployment's manifest, If-None-Match the last ETag, saying which version this device runs."""
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if running is not None:
            headers["X-Wake-Edge-Version"] = str(running.version)
            headers["X-Wake-Edge-Model-Sha256"] = running.model.sha256
        response = self._request("GET", f"/deployments/{quote(deployment, safe='')}/bundle", headers=headers)
        if response.status_code == 304:
            return ManifestFetch(None, etag)
        _raise_for_status(response, f"manifest of {deployment!r}")
        try:
            manifest = Manifest.from_json(response.json())
        except (ValueError, ManifestError) as exc:
            raise ServerError(f"the manifest of {deployment!r} is unusable: {exc}") from exc
        return ManifestFetch(manifest, response.headers.get("ETag"))

    def download(self, url: str, out: IO[bytes], *, max_bytes: int) -> Download:
        """Stream a model file into `out`, stopping past max_bytes; returns its size and sha256."""
        digest, size = hashlib.sha256(), 0
        try:
            with self._http.stream("GET", url) as response:
                if response.status_code >= 400:
                    response.read()
                    _raise_for_status(response, "model download")
                for chunk in response.iter_bytes(DOWNLOAD_CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        break
                    digest.update(chunk)
                    out.write(chunk)
        except httpx.HTTPError as exc:
            # A connection cut mid-body: what arrived is kept so that the size check names the truncation.
            if size == 0:
                raise ServerError(f"model download failed: {_describe(exc)}") from exc
        return Download(size, digest.hexdigest())

    def post_report(self, fields: dict[str, str], audio: bytes | None) -> dict[str, Any]:
        """POST one detection or near miss to /devices/self/reports (multipart, the WAV as `audio`)."""
        # Fields as filename-less parts: with no audio, httpx would otherwise send urlencoded data, not multipart.
        parts: dict[str, Any] = {name: (None, value) for name, value in fields.items()}
        if audio is not None:
            parts["audio"] = ("report.wav", audio, "audio/wav")
        response = self._request("POST", "/devices/self/reports", files=parts)
        _raise_for_status(response, "report")
        body = response.json() if response.content else {}
        return body if isinstance(body, dict) else {}

    def list_deployments(self) -> list[str]:
        """The names of every deployment (an admin route)."""
        response = self._request("GET", "/deployments")
        _raise_for_status(response, "deployment list")
        body = response.json()
        if not isinstance(body, list):
            raise ServerError("GET /deployments did not return a list")
        return [str(item["name"]) for item in body if isinstance(item, dict) and item.get("name")]

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ServerError(f"{self.server} is unreachable: {_describe(exc)}") from exc


def _raise_for_status(response: httpx.Response, what: str) -> None:
    if response.status_code < 400:
        return
    detail = response.text[:200]
    try:
        body = response.json()
        if isinstance(body, dict) and body.get("detail"):
            detail = str(body["detail"])
    except ValueError:
        pass
    retry_after = response.headers.get("Retry-After")
    hint = {401: " (is the token right, or revoked?)", 403: " (is the token for this deployment?)"}
    raise ServerError(
        f"{what}: HTTP {response.status_code} {detail}{hint.get(response.status_code, '')}",
        response.status_code,
        float(retry_after) if retry_after and retry_after.replace(".", "", 1).isdigit() else None,
    )


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
