"""Tests for autobot_apm._privacy.redact: URL and query redaction, header capture, clients."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autobot_apm._privacy.redact import (
    ALWAYS_REDACTED_HEADERS,
    SENSITIVE_QUERY_KEYS,
    HeaderCapture,
    client_address,
    redact_query,
    redact_url,
)

PROPERTY = settings(max_examples=250, deadline=None)
REQUEST = "http.request.header."


class TestRedactQuery:
    @pytest.mark.parametrize("key", sorted(SENSITIVE_QUERY_KEYS))
    def test_redacts_each_sensitive_key(self, key: str) -> None:
        """The value of every key of the semconv list becomes ``REDACTED``."""
        assert f"a=1&{key}=REDACTED&b=2" == redact_query(f"a=1&{key}=s3cr3t&b=2")

    def test_names_the_seven_semconv_keys(self) -> None:
        """The list is the union of semconv v1.44, semconv main and util-http."""
        expected = {
            "AWSAccessKeyId",
            "Signature",
            "sig",
            "X-Goog-Signature",
            "X-Amz-Signature",
            "X-Amz-Credential",
            "X-Amz-Security-Token",
        }
        assert expected == SENSITIVE_QUERY_KEYS

    def test_matches_keys_case_sensitively(self) -> None:
        """``SIG`` is not ``sig``: semconv matches keys exactly."""
        assert "SIG=abc&signature=def" == redact_query("SIG=abc&signature=def")

    def test_keeps_everything_else_byte_for_byte(self) -> None:
        """Other parameters, their order and their encoding are untouched."""
        query = "q=a%20b+c&sig=x&empty=&flag&sig=y&z=%E2%9C%93"
        assert "q=a%20b+c&sig=REDACTED&empty=&flag&sig=REDACTED&z=%E2%9C%93" == redact_query(query)

    def test_reads_percent_encoded_keys(self) -> None:
        """A key spelled with escapes is still recognized; it keeps its spelling."""
        assert "X%2DAmz%2DSignature=REDACTED" == redact_query("X%2DAmz%2DSignature=abc")

    def test_leaves_a_key_without_value_alone(self) -> None:
        """``sig`` with no ``=`` carries nothing to hide."""
        assert "sig&a=1" == redact_query("sig&a=1")


class TestRedactUrl:
    @pytest.mark.parametrize(
        ("url", "expected"),
        [
            ("https://bob:hunter2@example.com/", "https://REDACTED:REDACTED@example.com/"),
            ("https://bob@example.com/x", "https://REDACTED:REDACTED@example.com/x"),
            ("https://bob:p@ss:w0rd@example.com", "https://REDACTED:REDACTED@example.com"),
            ("//bob:pw@example.com/x", "//REDACTED:REDACTED@example.com/x"),
            ("bob:pw@example.com/x", "REDACTED:REDACTED@example.com/x"),
            ("http://u:p@[::1]:8080/a", "http://REDACTED:REDACTED@[::1]:8080/a"),
        ],
    )
    def test_replaces_credentials(self, url: str, expected: str) -> None:
        """Whatever precedes the host's ``@`` becomes ``REDACTED:REDACTED``."""
        assert expected == redact_url(url)

    def test_redacts_the_query_and_keeps_the_fragment(self) -> None:
        """Sensitive query values are hidden; the fragment is no query and is kept."""
        url = "https://s3.example.com/f?X-Amz-Signature=abc&page=2#sig=frag"
        expected = "https://s3.example.com/f?X-Amz-Signature=REDACTED&page=2#sig=frag"
        assert expected == redact_url(url)

    @pytest.mark.parametrize(
        "url",
        [
            "https://example.com/a/b?page=2",
            "https://medium.com/@author/post",
            "http://[::1]:8080/",
            "http://[::1",
            "://@",
            "",
            "not a url at all",
        ],
    )
    def test_leaves_urls_without_secrets_unchanged(self, url: str) -> None:
        """No credentials and no sensitive parameter: the URL is returned as given."""
        assert url == redact_url(url)

    @pytest.mark.parametrize(
        "url",
        [
            "https://bob:pa/ss@example.com/x",
            "https://bob:pa?ss@example.com/x",
            "https://bob:pa#ss@example.com/x",
            "https://bob:pa\\ss@example.com/x",
            "https://bob:pa:12/ss@example.com/x",
        ],
    )
    def test_unencoded_password_characters_do_not_leak(self, url: str) -> None:
        """A password holding ``/``, ``?``, ``#`` or ``\\`` unencoded is still hidden."""
        assert "https://REDACTED:REDACTED@example.com/x" == redact_url(url)

    def test_reads_bytes(self) -> None:
        """A URL given as bytes is decoded first."""
        assert "https://REDACTED:REDACTED@h/" == redact_url(b"https://u:p@h/")  # type: ignore[arg-type]

    @PROPERTY
    @given(st.text(max_size=200))
    def test_any_text_never_raises(self, url: str) -> None:
        """Arbitrary text gives text, at most a little longer than it was."""
        assert len(redact_url(url)) <= len(url) + len("REDACTED:REDACTED") + 20 * url.count("=")

    @PROPERTY
    @given(
        user=st.text(alphabet="abcxyz._-", min_size=1, max_size=8),
        password=st.text(min_size=1, max_size=12),
        encode=st.booleans(),
        host=st.sampled_from(["example.com", "10.0.0.1", "[2001:db8::1]", "example.com:8443"]),
        path=st.sampled_from(["", "/", "/a/b", "/@scope/pkg"]),
        key=st.sampled_from(sorted(SENSITIVE_QUERY_KEYS)),
        value=st.text(alphabet="abcdefXYZ0123456789-_.~", min_size=1, max_size=12),
    )
    def test_never_shows_the_password_or_a_sensitive_value(
        self, user: str, password: str, encode: bool, host: str, path: str, key: str, value: str
    ) -> None:
        """Generated URLs, encoded or with a raw password (no ``@``), never show secrets."""
        raw = quote(password, safe="") if encode else password.replace("@", "")
        secret_password = "Pw9" + raw + "9wP"
        secret_value = "Vq8" + value
        url = f"https://{user}:{secret_password}@{host}{path}?page=2&{key}={secret_value}"
        result = redact_url(url)
        assert secret_password not in result
        assert secret_value not in result


class TestHeaderCapture:
    def test_captures_nothing_by_default(self) -> None:
        """Without an allow-list the capture is disabled and returns no attribute."""
        capture = HeaderCapture()
        assert (False, {}) == (capture.enabled, capture.attributes([(b"a", b"b")], REQUEST))

    def test_matches_whole_names_case_insensitively(self) -> None:
        """``Content-Type`` matches ``content-type`` but ``content`` alone matches nothing."""
        headers = [(b"content-type", b"json"), (b"content-length", b"2")]
        assert {f"{REQUEST}content-type": ("json",)} == HeaderCapture(
            ["Content-Type", "content"]
        ).attributes(headers, REQUEST)

    def test_accepts_regular_expressions_in_a_comma_separated_string(self) -> None:
        """The environment variable form: names and regexes separated by commas."""
        headers = [(b"x-request-id", b"1"), (b"x-trace", b"2"), (b"accept", b"*/*")]
        expected = {f"{REQUEST}x-request-id": ("1",), f"{REQUEST}accept": ("*/*",)}
        assert expected == HeaderCapture("x-request-.*, Accept").attributes(headers, REQUEST)

    def test_keeps_every_value_of_a_repeated_header(self) -> None:
        """Several values of one header become one string array, in order."""
        headers = [(b"x-tag", b"a"), (b"x-other", b"z"), (b"x-tag", b"b")]
        assert {f"{REQUEST}x-tag": ("a", "b")} == HeaderCapture("x-tag").attributes(
            headers, REQUEST
        )

    def test_reads_mappings_with_single_or_listed_values(self) -> None:
        """A mapping's keys are lower-cased; a list value is several values."""
        headers = {"X-Tag": ["a", "b"], "Accept": "json"}
        expected = {"p.x-tag": ("a", "b"), "p.accept": ("json",)}
        assert expected == HeaderCapture(".*").attributes(headers, "p.")

    def test_decodes_header_bytes_as_latin_1(self) -> None:
        """ASGI header bytes are latin-1, which decodes any byte."""
        assert {"p.x-name": ("caf\xe9",)} == HeaderCapture("x-name").attributes(
            [(b"x-name", b"caf\xe9")], "p."
        )

    @pytest.mark.parametrize("name", sorted(ALWAYS_REDACTED_HEADERS))
    def test_credential_headers_show_only_that_they_were_sent(self, name: str) -> None:
        """Even an allow-list of ``.*`` records a credential header as ``[REDACTED]``."""
        headers = [(name.encode(), b"Bearer s3cr3t")]
        assert {f"p.{name}": ("[REDACTED]",)} == HeaderCapture(".*").attributes(headers, "p.")

    def test_sanitize_patterns_redact_values(self) -> None:
        """Headers matching a sanitize pattern keep their name and lose their value."""
        capture = HeaderCapture(".*", sanitize=".*session.*")
        headers = [(b"x-session-id", b"abc"), (b"accept", b"json")]
        expected = {"p.x-session-id": ("[REDACTED]",), "p.accept": ("json",)}
        assert expected == capture.attributes(headers, "p.")

    def test_invalid_pattern_is_a_plain_name(self) -> None:
        """A pattern that does not compile matches the header of that exact name."""
        headers = [(b"x-(odd", b"1")]
        assert {"p.x-(odd": ("1",)} == HeaderCapture("x-(odd").attributes(headers, "p.")

    @pytest.mark.parametrize("headers", [None, 42, [b"junk", (b"a",), (1, 2, 3)], "text"])
    def test_malformed_headers_give_no_attributes(self, headers: object) -> None:
        """Headers of an unexpected shape cost their attributes, never an error."""
        assert {} == HeaderCapture(".*").attributes(headers, "p.")


class TestClientAddress:
    @pytest.mark.parametrize(
        ("headers", "expected"),
        [
            ([(b"forwarded", b"for=192.0.2.60;proto=http;by=203.0.113.43")], "192.0.2.60"),
            ([(b"forwarded", b'for="[2001:db8:cafe::17]:4711", for=1.2.3.4')], "2001:db8:cafe::17"),
            ([(b"forwarded", b'For="192.0.2.43:47011"')], "192.0.2.43"),
            ({"Forwarded": "proto=https;for=198.51.100.17"}, "198.51.100.17"),
            ([(b"x-forwarded-for", b" 203.0.113.195, 70.41.3.18")], "203.0.113.195"),
            ([(b"x-forwarded-for", b"203.0.113.195:41237")], "203.0.113.195"),
            ([(b"x-forwarded-for", b"2001:DB8::1")], "2001:db8::1"),
            ([(b"forwarded", b"proto=http"), (b"x-forwarded-for", b"10.0.0.1")], "10.0.0.1"),
        ],
    )
    def test_reads_the_first_hop(self, headers: object, expected: str) -> None:
        """``Forwarded`` names the original client first; else ``X-Forwarded-For`` does."""
        assert expected == client_address(headers)

    @pytest.mark.parametrize(
        "headers",
        [
            [(b"forwarded", b"for=unknown"), (b"x-forwarded-for", b"10.0.0.1")],
            [(b"forwarded", b"for=_hidden")],
            [(b"forwarded", b'for="_SEVKISEK"')],
            [(b"x-forwarded-for", b"not-an-address")],
            [(b"x-forwarded-for", b"")],
            [],
            None,
        ],
    )
    def test_gives_none_without_a_known_address(self, headers: object) -> None:
        """Unknown and obfuscated clients, junk and missing headers give None."""
        assert client_address(headers) is None
