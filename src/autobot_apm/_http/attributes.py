"""HTTP server attributes read from an ASGI scope (SEMCONV.md, section 1).

Everything here runs on every request, so it reads the scope once, decodes only the
few headers it needs and never raises on odd input: a malformed ``Host`` header costs
the ``server.*`` attributes, not the request.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from typing import Any, Final

from .._privacy.headers import client_address
from .._privacy.redact import redact_query
from .._tracking.attributes import MAX_ATTRIBUTE_LENGTH, truncate

Scope = Mapping[str, Any]

_DEFAULT_PORTS: Final = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_AUTHORITY_CACHE_SIZE = 256  # Host values come from clients: the cache must stay bounded
_authorities: dict[tuple[str, str], tuple[str, int | None] | None] = {}


def pick_headers(headers: Iterable[Any], wanted: Mapping[bytes, str]) -> dict[str, str]:
    """The ``wanted`` request headers, decoded; repeated ones joined with commas.

    ASGI servers give header names in lower case, so a name is looked up as it comes.
    """
    picked: dict[str, str] = {}
    for name, value in headers:
        key = wanted.get(name)
        if key is not None:
            text = value.decode("latin-1")
            previous = picked.get(key)
            picked[key] = text if previous is None else f"{previous},{text}"
    return picked


def request_url(scope: Scope, host: str | None) -> str:
    """``scheme://host/path`` (no query), the string excluded-URL patterns search."""
    if host is None:
        server = scope.get("server")
        host = f"{server[0]}:{server[1]}" if server and server[1] is not None else ""
    return f"{scope.get('scheme') or 'http'}://{host}{scope.get('path', '')}"


def span_attributes(
    scope: Scope, picked: Mapping[str, str], methods: Mapping[str, str]
) -> dict[str, Any]:
    """The server span's attributes known before the application runs."""
    scheme = scope.get("scheme") or "http"
    attributes: dict[str, Any] = {
        **methods,
        "url.scheme": scheme,
        "url.path": _bounded(scope.get("path") or "/"),
    }
    query = scope.get("query_string")
    if query:
        attributes["url.query"] = _bounded(redact_query(query.decode("latin-1")))
    if version := scope.get("http_version"):
        attributes["network.protocol.version"] = version
    _add_server(attributes, picked.get("host"), scheme, scope.get("server"))
    if user_agent := picked.get("user-agent"):
        attributes["user_agent.original"] = _bounded(user_agent)
    _add_client(attributes, picked, scope.get("client"))
    return attributes


def metric_attributes(scope: Scope, methods: Mapping[str, str]) -> dict[str, Any]:
    """The duration metric's attributes known before the application runs."""
    attributes: dict[str, Any] = {
        "http.request.method": methods["http.request.method"],
        "url.scheme": scope.get("scheme") or "http",
    }
    if version := scope.get("http_version"):
        attributes["network.protocol.version"] = version
    return attributes


def _bounded(text: str) -> str:
    return text if len(text) <= MAX_ATTRIBUTE_LENGTH else truncate(text, MAX_ATTRIBUTE_LENGTH)


def _add_server(attributes: dict[str, Any], host: str | None, scheme: str, server: Any) -> None:
    if host is not None:
        authority = parse_authority(host, scheme)
    elif server and isinstance(server[0], str):
        authority = (server[0], server[1] if isinstance(server[1], int) else None)
    else:
        authority = None
    if authority is not None:
        attributes["server.address"] = authority[0]
        if authority[1] is not None:
            attributes["server.port"] = authority[1]


def _add_client(attributes: dict[str, Any], picked: Mapping[str, str], peer: Any) -> None:
    peer_address = peer[0] if peer and isinstance(peer[0], str) else None
    if peer_address is not None:
        attributes["network.peer.address"] = peer_address
        if isinstance(peer[1], int):
            attributes["network.peer.port"] = peer[1]
    proxied = "forwarded" in picked or "x-forwarded-for" in picked
    original = client_address(picked) if proxied else None
    if original or peer_address:
        attributes["client.address"] = original or peer_address


def parse_authority(host: str, scheme: str) -> tuple[str, int | None] | None:
    """``(address, port)`` of a ``Host`` value; the scheme's port when none is given."""
    key = (host, scheme)
    if key in _authorities:
        return _authorities[key]
    authority = _parse_authority(host.strip(), scheme)
    if len(_authorities) < _AUTHORITY_CACHE_SIZE:
        _authorities[key] = authority
    return authority


def _parse_authority(host: str, scheme: str) -> tuple[str, int | None] | None:
    if host.startswith("["):  # [2001:db8::1]:8080
        address, bracket, rest = host[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            return None
        port_text = rest[1:]
    else:
        address, _, port_text = host.partition(":")
    if not address or any(c in address for c in "@/?# "):
        return None
    if not port_text:
        return address, _DEFAULT_PORTS.get(scheme)
    if not (port_text.isascii() and port_text.isdigit()) or int(port_text) > 65535:
        return None
    return address, int(port_text)


def route_template(scope: Scope) -> str | None:
    """``http.route`` as the framework matched it, read from the scope after routing.

    Starlette and FastAPI put the matched route in ``scope["route"]`` and the path of
    enclosing mounts in ``scope["root_path"]``. FastAPI 0.16x keeps the prefix of an
    included router apart, in the route context it stores under ``scope["fastapi"]``.
    None when nothing matched, or when a mount's own path has parameters (its concrete
    values are all the scope still holds, and a raw path must never become a route).
    """
    route = scope.get("route")
    if route is None:
        return None
    template = _included_router_template(scope, route) or getattr(route, "path_format", None)
    if not isinstance(template, str) or not template.startswith("/"):
        return None
    if _is_mount(route):
        template = "/{path}"  # the mount's own path is already the end of root_path
    root = scope.get("root_path") or ""
    if not isinstance(root, str) or (root and _has_unnamed_parameters(scope, template)):
        return None
    return root.rstrip("/") + template


def _included_router_template(scope: Scope, route: object) -> str | None:
    fastapi_scope = scope.get("fastapi")
    if not isinstance(fastapi_scope, dict):
        return None
    context = fastapi_scope.get("effective_route_context")
    if context is None or route not in (
        getattr(context, "original_route", None),
        getattr(context, "starlette_route", None),
    ):
        return None  # left over from another router, or not about this route
    template = getattr(context, "path_format", None)
    return template if isinstance(template, str) and template else None


def _is_mount(route: object) -> bool:
    routing = sys.modules.get("starlette.routing")  # only loaded when Starlette is in use
    return routing is not None and isinstance(route, routing.Mount)


def _has_unnamed_parameters(scope: Scope, template: str) -> bool:
    """Path parameters the template does not name come from a parameterized mount."""
    params = scope.get("path_params")
    if not isinstance(params, dict):
        return False
    return any(f"{{{name}}}" not in template for name in params)
