"""Tests for autobot_apm._privacy.redact: URL and query redaction, header capture, clients."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autobot_apm._privacy import credentials as _credentials
from autobot_apm._privacy import headers as _headers
from autobot_apm._privacy import redact as _redact
from autobot_apm._privacy.headers import ALWAYS_REDACTED_HEADERS, HeaderCapture, client_address
from autobot_apm._privacy.query_text import SCAN_LIMIT
from autobot_apm._privacy.redact import SENSITIVE_QUERY_KEYS, redact_query, redact_url

PROPERTY = settings(max_examples=250, deadline=None)
REQUEST = "http.request.header."
# Issue 12: every credential a query or a header has been seen to carry.
CREDENTIAL_KEYS = [
    *sorted(SENSITIVE_QUERY_KEYS), "X-Goog-Credential", "token", "access_token",
    "refresh_token", "id_token", "accessToken", "code", "password", "passwd", "pwd",
    "secret", "client_secret", "clientSecret", "api_key", "apikey", "apiKey", "key",
    "session", "sessionid", "auth", "auth_code", "credential", "otp", "totp", "mfa_code",
    "2fa", "jwt", "assertion", "client_assertion", "sid", "pin", "ticket",
]  # fmt: skip
CREDENTIAL_HEADERS = [
    *sorted(ALWAYS_REDACTED_HEADERS), "x-jwt-assertion", "jwt-assertion", "dpop",
    "x-client-cert", "x-ssl-client-cert", "x-forwarded-client-cert", "ssl-client-cert",
    "x-client-certificate", "x-bearer-token", "bearer", "x-otp", "x-totp", "x-2fa-code",
    "x-mfa", "x-session-id", "x-signature", "x-hub-signature-256", "x-credential",
    "x-password", "x-secret", "x-authorisation", "www-authenticate", "x-csrftoken",
]  # fmt: skip


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

    def test_matches_keys_ignoring_case(self) -> None:
        """``SIG``, ``signature`` and ``awsaccesskeyid`` are the semconv keys too."""
        query = "SIG=abc&signature=def&awsaccesskeyid=ghi&x-goog-signature=jkl&page=2"
        expected = "SIG=REDACTED&signature=REDACTED&awsaccesskeyid=REDACTED"
        assert expected + "&x-goog-signature=REDACTED&page=2" == redact_query(query)

    def test_semicolons_separate_parameters_too(self) -> None:
        """``a=1;token=x`` hides the token: ``;`` is a separator to many servers."""
        assert "a=1;token=REDACTED&b=2" == redact_query("a=1;token=x&b=2")

    @pytest.mark.parametrize("key", CREDENTIAL_KEYS)
    def test_redacts_every_kind_of_credential_key(self, key: str) -> None:
        """Tokens, codes, passwords, keys, sessions and one-time passwords, any case."""
        for spelling in (key, key.upper(), quote(key, safe="")):
            assert f"page=2&{spelling}=REDACTED" == redact_query(f"page=2&{spelling}=s3cr3t")

    @pytest.mark.parametrize("key", ["page", "q", "author", "keyword", "zip_code", "state"])
    def test_keeps_keys_that_name_no_credential(self, key: str) -> None:
        """Ordinary keys keep their values, even when a credential word is inside one."""
        assert f"{key}=1" == redact_query(f"{key}=1")

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

    def test_redacts_the_query_and_the_fragment_pairs(self) -> None:
        """The fragment keeps its anchor; its ``key=value`` pairs are redacted as well."""
        url = "https://s3.example.com/f?X-Amz-Signature=abc&page=2#sig=frag"
        expected = "https://s3.example.com/f?X-Amz-Signature=REDACTED&page=2#sig=REDACTED"
        assert expected == redact_url(url)

    @pytest.mark.parametrize(
        ("url", "expected"),
        [
            ("https://app/cb#access_token=abc&state=1", "https://app/cb#access_token=REDACTED&state=1"),
            ("https://app/#/login?token=abc", "https://app/#/login?token=REDACTED"),
            ("https://app/cb#id_token=a;code=b", "https://app/cb#id_token=REDACTED;code=REDACTED"),
            ("https://app/page#section-2", "https://app/page#section-2"),
        ],
    )  # fmt: skip
    def test_fragments_lose_their_tokens(self, url: str, expected: str) -> None:
        """OAuth's implicit flow and hash routers put tokens after ``#``."""
        assert expected == redact_url(url)

    def test_a_url_cut_inside_its_credentials_shows_none_of_them(self) -> None:
        """A huge URL is cut before it is read; a cut before the ``@`` hides all after ``//``."""
        url = "https://bob:" + "p" * 100_000 + "@example.com/"
        assert "https://REDACTED" == redact_url(url)

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
        capture = HeaderCapture(".*", sanitize=".*internal.*")
        headers = [(b"x-internal-id", b"abc"), (b"accept", b"json")]
        expected = {"p.x-internal-id": ("[REDACTED]",), "p.accept": ("json",)}
        assert expected == capture.attributes(headers, "p.")

    @pytest.mark.parametrize("name", CREDENTIAL_HEADERS)
    def test_every_kind_of_credential_header_is_redacted(self, name: str) -> None:
        """JWT assertions, DPoP, client certificates, bearer variants, one-time
        passwords and every name saying token, secret, password, session, auth..."""
        for spelling in (name, name.upper(), name.title()):
            headers = [(spelling.encode(), b"s3cr3t")]
            assert {f"p.{name}": ("[REDACTED]",)} == HeaderCapture(".*").attributes(headers, "p.")

    @pytest.mark.parametrize("name", ["accept", "content-type", "x-request-id", "user-agent"])
    def test_ordinary_headers_keep_their_values(self, name: str) -> None:
        """The control: names that say nothing of credentials are recorded as sent."""
        assert {f"p.{name}": ("v",)} == HeaderCapture(".*").attributes([(name, "v")], "p.")

    @pytest.mark.parametrize("name", ["location", "Content-Location", "referer"])
    def test_url_headers_are_redacted_as_urls(self, name: str) -> None:
        """A redirect's ``Location`` keeps its path and loses its credentials and tokens."""
        value = "https://u:pw@example.com/next?code=abc&page=2"
        expected = "https://REDACTED:REDACTED@example.com/next?code=REDACTED&page=2"
        attributes = HeaderCapture(".*").attributes([(name, value)], "p.")
        assert {f"p.{name.lower()}": (expected,)} == attributes

    def test_names_too_long_to_be_headers_are_not_captured(self) -> None:
        """A name past 256 characters is read by no pattern and recorded nowhere."""
        assert {} == HeaderCapture(".*").attributes([("x" * 257, "v")], "p.")

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


# --- linear time (issue 12) ------------------------------------------------------------------
#
# Nothing is timed: work is counted as every Python and C call (``sys.setprofile``) plus
# the characters each regex call may read. Every regex here is vetted: its repeats are
# possessive or single character classes, so it reads each character a bounded number
# of times.


class _Work:
    def __init__(self) -> None:
        self.steps = 0


class _CountingPattern:
    def __init__(self, pattern: re.Pattern[str], work: _Work) -> None:
        self._pattern, self._work = pattern, work

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._pattern, name)

        def counted(text: str, *args: Any) -> Any:
            self._work.steps += len(text) if isinstance(text, str) else 0
            return method(text, *args)

        return counted if callable(method) else method


def _work_of(run: Callable[[], object], monkeypatch: pytest.MonkeyPatch) -> int:
    work = _Work()
    with monkeypatch.context() as patch:
        for module in (_redact, _credentials, _headers):
            for name, value in vars(module).items():
                if isinstance(value, re.Pattern):
                    patch.setattr(module, name, _CountingPattern(value, work))

        def count(frame: object, event: str, arg: object) -> None:
            if event in ("call", "c_call"):
                work.steps += 1

        sys.setprofile(count)
        try:
            run()
        finally:
            sys.setprofile(None)
    return work.steps


def _redact_all(text: str) -> None:
    redact_url(text)
    redact_url("https://h/p?" + text)
    redact_query(text)
    headers = [(b"location", text.encode()), (b"x-" + text[:300].encode(), b"v")]
    HeaderCapture(".*").attributes(headers, "p.")


# Each builds a worst case of about ``n`` characters; its cost must be that of a URL.
URL_WORST_CASES: dict[str, Callable[[int], str]] = {
    "separators": lambda n: "&" * n,
    "semicolons and equals": lambda n: ";=" * (n // 2),
    "sensitive pairs": lambda n: "sig=a&" * (n // 6),
    "escaped keys": lambda n: "%41%41=" * (n // 7),
    "long key": lambda n: "_a" * (n // 2) + "=x",
    "long credential-like key": lambda n: "-sig" * (n // 4) + "=x",
    "at signs": lambda n: "https://" + "@" * n,
    "colons": lambda n: "https://" + ":" * n + "/",
    "ipv6 brackets": lambda n: "https://[" + ":" * n,
    "question marks": lambda n: "https://h/" + "?" * n,
    "hashes and pairs": lambda n: "https://h/#" + "#a=b" * (n // 4),
    "slashes": lambda n: "/" * n,
}


def _ordinary_url(n: int) -> str:
    # With a token: a query without any credential-like word skips the reading altogether.
    return ("https://u:p@example.com/a/b?page=2&q=shoes&token=abc&sort=asc#s&" * (n // 60 + 1))[:n]


class TestLinearTime:
    @pytest.mark.parametrize("name", sorted(URL_WORST_CASES))
    def test_work_grows_linearly(self, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
        """Doubling a worst case at most doubles the work (3 allows for set-up)."""
        make = URL_WORST_CASES[name]
        small = _work_of(lambda: _redact_all(make(4000)), monkeypatch)
        large = _work_of(lambda: _redact_all(make(8000)), monkeypatch)
        assert large < 3 * small

    @pytest.mark.parametrize("name", sorted(URL_WORST_CASES))
    def test_worst_case_costs_what_a_url_costs(
        self, name: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A worst case does no more than 5 times the work of an ordinary URL of its length."""
        text = URL_WORST_CASES[name](8000)
        worst = _work_of(lambda: _redact_all(text), monkeypatch)
        ordinary = _work_of(lambda: _redact_all(_ordinary_url(len(text))), monkeypatch)
        assert worst < 5 * ordinary

    def test_input_is_capped_before_it_is_read(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Text past SCAN_LIMIT is never read: 6 MB of query cost what 600 KB cost,
        and about what text of the limit's length costs."""
        capped = _work_of(lambda: _redact_all("sig=a&" * (SCAN_LIMIT // 6)), monkeypatch)
        big = _work_of(lambda: _redact_all("sig=a&" * 100_000), monkeypatch)
        huge = _work_of(lambda: _redact_all("sig=a&" * 1_000_000), monkeypatch)
        assert huge < big * 1.01 + 100
        assert big < 2 * capped


class TestNeverLeaks:
    @PROPERTY
    @given(st.data())
    def test_no_credential_value_survives_any_spelling(self, data: st.DataObject) -> None:
        """A credential key in any case, after any separator, in the query or the
        fragment, among hostile neighbours: its value never shows."""
        key = data.draw(st.sampled_from(CREDENTIAL_KEYS).map(_random_case(data)))
        noise = st.text(alphabet="&;=?#%@:/ab", max_size=6)
        separator = data.draw(st.sampled_from(["&", ";", "?", "#", "#/r?"]))
        url = (
            f"https://h/p?{data.draw(noise).replace('#', '')}&x=1{separator}"
            f"{key}=Vq8SECRET&{data.draw(noise)}"
        )
        assert "Vq8SECRET" not in redact_url(url)
        query = url.partition("?")[2].partition("#")[0]
        if "Vq8SECRET" in query:
            assert "Vq8SECRET" not in redact_query(query)


def _random_case(data: st.DataObject) -> Callable[[str], str]:
    flips = data.draw(st.lists(st.booleans(), min_size=40, max_size=40))
    return lambda key: "".join(
        c.upper() if f else c.lower() for c, f in zip(key, flips, strict=False)
    )


class TestFastPath:
    @PROPERTY
    @given(st.sampled_from(CREDENTIAL_KEYS), st.text(alphabet="ab-_.", max_size=4))
    def test_the_prefilter_never_skips_a_credential_name(self, key: str, around: str) -> None:
        """Every name the full pattern matches is seen by the one-pass prefilter."""
        for name in (key, around + key, key + around, key.upper()):
            if _credentials.is_credential_name(name):
                assert _credentials.may_hold_credential_names(f"a=1&{name}=x")
