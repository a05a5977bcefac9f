"""The pieces APMMiddleware reads a scope with: authority, headers, URL, exclusions, route."""

from types import SimpleNamespace

import pytest

from autobot_apm._http.attributes import (
    parse_authority,
    pick_headers,
    request_url,
    route_template,
)
from autobot_apm._http.options import compile_exclusions, normalize_overrides


class TestParseAuthority:
    @pytest.mark.parametrize(
        ("host", "scheme", "expected"),
        [
            ("api.example", "http", ("api.example", 80)),
            ("api.example", "https", ("api.example", 443)),
            ("api.example:8443", "https", ("api.example", 8443)),
            ("[2001:db8::1]:8080", "http", ("2001:db8::1", 8080)),
            ("[2001:db8::1]", "https", ("2001:db8::1", 443)),
            ("10.0.0.5:9000", "http", ("10.0.0.5", 9000)),
        ],
    )
    def test_address_and_port(self, host, scheme, expected):
        """Host values give (address, port), the scheme's port when none is written."""
        assert expected == parse_authority(host, scheme)

    @pytest.mark.parametrize(
        "host", ["", ":80", "api.example:http", "api.example:99999", "[2001:db8::1",
                 "[::1]x", "bob:pw@api.example", "api.example/path", "a b"],
    )  # fmt: skip
    def test_malformed_gives_nothing(self, host):
        """A malformed Host costs the server attributes, and raises nothing."""
        assert parse_authority(host, "http") is None


class TestPickHeaders:
    def test_only_wanted_headers_are_decoded(self):
        """Unwanted headers are skipped; names map to the wanted spelling."""
        headers = [(b"host", b"a.example"), (b"cookie", b"secret"), (b"user-agent", b"ua")]
        wanted = {b"host": "host", b"user-agent": "user-agent"}
        assert {"host": "a.example", "user-agent": "ua"} == pick_headers(headers, wanted)

    def test_repeated_header_values_are_joined(self):
        """Two baggage headers become one comma-separated value, in order."""
        headers = [(b"baggage", b"a=1"), (b"baggage", b"b=2")]
        assert {"baggage": "a=1,b=2"} == pick_headers(headers, {b"baggage": "baggage"})

    def test_values_are_latin1(self):
        """Header bytes are latin-1: any byte decodes."""
        assert {"user-agent": "caf\xe9"} == pick_headers(
            [(b"user-agent", b"caf\xe9")], {b"user-agent": "user-agent"}
        )


class TestRequestUrl:
    def test_host_header_is_the_authority(self):
        """`scheme://host/path`, without the query string."""
        scope = {"scheme": "https", "path": "/a/b", "query_string": b"x=1"}
        assert "https://api.example/a/b" == request_url(scope, "api.example")

    def test_server_tuple_without_host_header(self):
        """HTTP/1.0 without Host: the server's own address and port."""
        scope = {"path": "/p", "server": ("10.0.0.1", 8000)}
        assert "http://10.0.0.1:8000/p" == request_url(scope, None)


class TestExclusions:
    def test_default_list_when_none(self):
        """None means the default probes; /health and /readyz match, /api/users does not."""
        pattern = compile_exclusions(None)
        assert pattern is not None
        assert pattern.search("http://h/health")
        assert pattern.search("http://h/v1/readyz")
        assert not pattern.search("http://h/api/users")

    def test_empty_means_nothing_excluded(self):
        """An empty list compiles to no pattern at all."""
        assert compile_exclusions(()) is None

    def test_invalid_regex_is_taken_literally(self):
        """A pattern that does not compile matches its own text, and raises nothing."""
        pattern = compile_exclusions(["/v1/items[", "/ping$"])
        assert pattern is not None
        assert pattern.search("http://h/v1/items[")
        assert pattern.search("http://h/ping")
        assert not pattern.search("http://h/v1/items")


class TestNormalizeOverrides:
    def test_none_is_not_given(self):
        """Arguments left as None fall back to the settings (they are not in the result)."""
        assert {} == normalize_overrides(excluded_urls=None, server_timing=None)

    def test_lists_and_strings_take_one_form(self):
        """A comma-separated string and a list give the same tuple; flags become bools."""
        assert {"excluded_urls": ("/a", "/b"), "server_timing": True} == normalize_overrides(
            excluded_urls=" /a, /b ", server_timing=1
        )
        assert {"capture_request_headers": ("x-id",)} == normalize_overrides(
            capture_request_headers=["x-id"]
        )


class TestRouteTemplate:
    def test_no_route_no_template(self):
        """Nothing matched: None, never the path."""
        assert route_template({"path": "/x"}) is None

    def test_route_path_format_under_root_path(self):
        """The route's template, after the application's root path."""
        scope = {"route": SimpleNamespace(path_format="/users/{id}"), "root_path": "/api/"}
        assert "/api/users/{id}" == route_template(scope)

    def test_route_context_of_another_route_is_ignored(self):
        """FastAPI's stored route context counts only when it is about the matched route."""
        route = SimpleNamespace(path_format="/things/{id}")
        context = SimpleNamespace(original_route=object(), path_format="/other/{x}")
        scope = {"route": route, "fastapi": {"effective_route_context": context}}
        assert "/things/{id}" == route_template(scope)

    def test_template_must_be_a_path(self):
        """A route object without a usable template gives None."""
        assert route_template({"route": SimpleNamespace(path_format=None)}) is None
