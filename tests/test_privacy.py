"""Privacy and security: what must never be recorded, logged, shown or sent elsewhere.

Each test plants secrets where a careless instrumentation would pick them up and then
searches every place they could surface: span names, attributes and events, log
records and output, ``autobot-apm doctor``, and the network. A positive control in
each group shows that the search finds what is there, so an absence means something.
"""

import json
import logging
import os
import subprocess
import sys
import textwrap

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import autobot_apm as apm
from autobot_apm._privacy.sql import sanitize_sql
from autobot_apm._sdk import health as _health
from autobot_apm.asgi import APMMiddleware
from autobot_apm.http_client import instrument_http_clients, uninstrument_http_clients
from autobot_apm.llm import track_llm
from autobot_apm.receiver import OTLPReceiver
from autobot_apm.testing import capture_telemetry
from support import wait_until

SECRET = "Zq7Xv-s3cr3t"  # no template word, header name or attribute contains it


def _everything_recorded(capture):
    """Every span name, attribute and event of a capture, as one text to search."""
    parts = []
    for span in capture.spans:
        parts.append(span.name)
        parts.extend(f"{key}={value!r}" for key, value in (span.attributes or {}).items())
        for event in span.events:
            parts.append(event.name)
            parts.extend(f"{key}={value!r}" for key, value in (event.attributes or {}).items())
    return "\n".join(parts)


# --- HTTP headers and query strings, through the middleware --------------------------------


async def _app_setting_a_cookie(scope, receive, send):
    headers = [(b"set-cookie", f"session={SECRET}-response; HttpOnly".encode()),
               (b"x-served-by", b"visible-server")]  # fmt: skip
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"ok"})


async def _request(app, url, headers):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
        return await client.get(url, headers=headers)


CREDENTIAL_HEADERS = {
    "authorization": f"Bearer {SECRET}-authorization",
    "proxy-authorization": f"Basic {SECRET}-proxy",
    "cookie": f"session={SECRET}-cookie",
    "x-api-key": f"{SECRET}-x-api-key",
    "api-key": f"{SECRET}-api-key",
    "x-goog-api-key": f"{SECRET}-goog",
    "x-auth-token": f"{SECRET}-auth-token",
}


class TestCredentialHeaders:
    @pytest.mark.parametrize("given_as", ["middleware argument", "setting"])
    async def test_never_recorded_even_when_the_allow_list_matches_everything(self, given_as):
        """With ``.*`` as the allow-list, credential headers show only ``[REDACTED]``."""
        allow_all = {"capture_request_headers": ".*", "capture_response_headers": ".*"}
        arguments = allow_all if given_as == "middleware argument" else {}
        settings_ = allow_all if given_as == "setting" else {}
        with capture_telemetry(**settings_) as capture:
            app = APMMiddleware(_app_setting_a_cookie, **arguments)
            headers = {**CREDENTIAL_HEADERS, "x-request-id": "visible-request"}
            assert 200 == (await _request(app, "/", headers)).status_code
            (span,) = capture.spans
            recorded = _everything_recorded(capture)
        assert SECRET not in recorded
        for name in [*CREDENTIAL_HEADERS, "set-cookie"]:
            prefix = "response" if name == "set-cookie" else "request"
            assert ("[REDACTED]",) == span.attributes[f"http.{prefix}.header.{name}"]
        # Control: the allow-list does record headers that are not credentials.
        assert ("visible-request",) == span.attributes["http.request.header.x-request-id"]
        assert ("visible-server",) == span.attributes["http.response.header.x-served-by"]

    @pytest.mark.parametrize(
        "name",
        ["x-apikey", "x-openai-api-key", "x-api-token", "x-client-secret",
         "x-session-token", "x-user-password", "x-amz-credential"],
    )  # fmt: skip
    async def test_other_credential_names_are_redacted_too(self, name):
        """Header names that say key, token, secret, password or credential are redacted."""
        with capture_telemetry() as capture:
            app = APMMiddleware(_app_setting_a_cookie, capture_request_headers=".*")
            await _request(app, "/", {name: f"{SECRET}-{name}"})
            recorded = _everything_recorded(capture)
        assert SECRET not in recorded.replace(f"{SECRET}-response", "")


async def _app_redirecting(scope, receive, send):
    headers = [(b"location", f"https://u:{SECRET}@idp.test/cb?code={SECRET}&page=2".encode())]
    await send({"type": "http.response.start", "status": 302, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


class TestIssue12Headers:
    @pytest.mark.parametrize(
        "name",
        ["x-jwt-assertion", "dpop", "x-client-cert", "x-ssl-client-cert",
         "x-forwarded-client-cert", "ssl-client-cert", "x-bearer-token", "x-otp",
         "X-TOTP", "x-2fa-code", "x-mfa", "X-Session-Id", "x-hub-signature-256"],
    )  # fmt: skip
    async def test_credential_headers_of_every_kind_are_redacted(self, name):
        """Credential headers the old allow-list let through show only ``[REDACTED]``."""
        with capture_telemetry() as capture:
            app = APMMiddleware(_app_setting_a_cookie, capture_request_headers=".*")
            await _request(app, "/", {name: f"{SECRET}-{name}", "x-request-id": "seen"})
            (span,) = capture.spans
            recorded = _everything_recorded(capture)
        assert SECRET not in recorded.replace(f"{SECRET}-response", "")
        assert ("[REDACTED]",) == span.attributes[f"http.request.header.{name.lower()}"]
        assert ("seen",) == span.attributes["http.request.header.x-request-id"]  # control

    async def test_a_redirect_location_loses_its_credentials(self):
        """A captured ``Location`` keeps its path, not its userinfo or its code."""
        with capture_telemetry() as capture:
            app = APMMiddleware(_app_redirecting, capture_response_headers="location")
            await _request(app, "/login", {})
            (span,) = capture.spans
            recorded = _everything_recorded(capture)
        assert SECRET not in recorded
        location = "https://REDACTED:REDACTED@idp.test/cb?code=REDACTED&page=2"
        assert (location,) == span.attributes["http.response.header.location"]

    async def test_query_keys_in_any_case_and_after_semicolons_are_redacted(self):
        """``SIG``, ``Access_Token`` and ``;otp=`` all lose their values in url.query."""
        query = f"SIG={SECRET}&page=2;Access_Token={SECRET};otp={SECRET}&x-goog-signature={SECRET}"
        with capture_telemetry() as capture:
            await _request(APMMiddleware(_app_setting_a_cookie), f"/x?{query}", {})
            (span,) = capture.spans
        assert SECRET not in _everything_recorded(capture)
        assert "page=2" in span.attributes["url.query"]


class TestQueryStrings:
    async def test_semconv_signature_keys_are_redacted(self):
        """Signature and credential query values become REDACTED; other values stay."""
        query = (f"X-Amz-Signature={SECRET}&X-Amz-Credential={SECRET}&sig={SECRET}"
                 f"&X-Goog-Signature={SECRET}&AWSAccessKeyId={SECRET}&page=2")  # fmt: skip
        with capture_telemetry() as capture:
            await _request(APMMiddleware(_app_setting_a_cookie), f"/files?{query}", {})
            (span,) = capture.spans
        assert SECRET not in _everything_recorded(capture)
        assert span.attributes["url.query"].endswith("&page=2")
        assert 5 == span.attributes["url.query"].count("=REDACTED")

    @pytest.mark.parametrize(
        "key", ["access_token", "api_key", "apikey", "token", "password", "client_secret"]
    )
    async def test_common_credential_keys_are_redacted(self, key):
        """OAuth's access_token and other credential-named keys are redacted too."""
        with capture_telemetry() as capture:
            await _request(APMMiddleware(_app_setting_a_cookie), f"/x?{key}={SECRET}&a=1", {})
            (span,) = capture.spans
        assert f"{key}=REDACTED&a=1" == span.attributes["url.query"]


class TestOutgoingRequests:
    def test_url_credentials_and_signatures_never_reach_the_client_span(self):
        """httpx to ``https://user:password@host/?X-Amz-Signature=...``: both redacted."""
        url = f"https://bob:{SECRET}-password@api.example.test/v1/files?X-Amz-Signature={SECRET}"

        def answer(request):
            return httpx.Response(200, text="ok")

        instrument_http_clients()
        try:
            with capture_telemetry() as capture:
                with httpx.Client(transport=httpx.MockTransport(answer)) as client:
                    response = client.get(url, headers={"authorization": f"Bearer {SECRET}"})
                (span,) = capture.spans
        finally:
            uninstrument_http_clients()
        assert 200 == response.status_code
        assert SECRET not in _everything_recorded(capture)
        assert span.attributes["url.full"].startswith("https://REDACTED:REDACTED@api.example")


class TestOutgoingFragmentsAndSemicolons:
    def test_fragment_tokens_and_semicolon_parameters_never_reach_url_full(self):
        """``url.full`` of a client span: tokens after ``;`` and in the fragment hidden."""
        url = f"https://api.example.test/cb;jsessionid=1?a=1;token={SECRET}#access_token={SECRET}"

        def answer(request):
            return httpx.Response(200, text="ok")

        instrument_http_clients()
        try:
            with capture_telemetry() as capture:
                with httpx.Client(transport=httpx.MockTransport(answer)) as client:
                    client.get(url)
                (span,) = capture.spans
        finally:
            uninstrument_http_clients()
        assert SECRET not in _everything_recorded(capture)
        assert "a=1;token=REDACTED" in span.attributes["url.full"]


# --- SQL literals -----------------------------------------------------------------------------


@st.composite
def _literal_kinds(draw):
    """Literal spellings that tests/privacy/test_sql.py's property does not draw."""
    digits = draw(st.integers(min_value=10**7, max_value=10**12))
    hex_digits = format(digits, "x")
    return draw(
        st.sampled_from(
            [
                (f"X'{hex_digits}'", hex_digits),
                (f"x'{hex_digits}'", hex_digits),
                (f"B'{digits:b}'", f"{digits:b}"),
                (f"0b{digits:b}", f"{digits:b}"),
                (f"U&'{SECRET}'", SECRET),
                (f"_utf8mb4'{SECRET}'", SECRET),
                (f"INTERVAL '{digits} days'", str(digits)),
                (f"TIMESTAMP '{digits}'", str(digits)),
                (f"TIME '{SECRET}'", SECRET),
                (f"'{SECRET}'::text", SECRET),
                (f"{digits}E-3", str(digits)),
                (f"{digits}.", str(digits)),
            ]
        )
    )


class TestSqlLiterals:
    @settings(max_examples=100, deadline=None)
    @given(first=_literal_kinds(), second=_literal_kinds(), third=_literal_kinds())
    def test_no_literal_survives_in_any_spelling(self, first, second, third):
        """Hex, binary, Unicode, charset, interval and typed literals never survive."""
        query = (
            f"SELECT * FROM t WHERE a = {first[0]} AND b IN ({second[0]}, {first[0]}) "
            f"/* {SECRET} */; UPDATE u SET c = {third[0]} -- {SECRET}\nWHERE d = 1"
        )
        sanitized = sanitize_sql(query, max_length=100_000)
        for shown in (first[1], second[1], third[1], SECRET):
            assert shown not in sanitized

    def test_db_query_text_on_the_span_is_sanitized(self, apm_capture):
        """The span's db.query.text holds no literal of the query the tracker was given."""
        query = f"SELECT * FROM users WHERE email = '{SECRET}@example.com' AND id = 424242"
        with apm.track_database("postgresql", query=query):
            pass
        recorded = _everything_recorded(apm_capture)
        assert SECRET not in recorded
        assert "424242" not in recorded
        assert (
            "SELECT * FROM users WHERE email = ? AND id = ?"
            == (apm_capture.spans[0].attributes["db.query.text"])
        )

    @pytest.mark.parametrize("system", ["mysql", "MySQL", "MARIADB", "TiDB"])
    def test_mysql_comments_and_double_quotes_hide_nothing_on_the_span(self, apm_capture, system):
        """Issue 12: ``# it's`` hid a quote and ``"..."`` was a name, in any spelling."""
        query = f"SELECT * FROM users # it's\nWHERE email = '{SECRET}' OR name = \"{SECRET}\""
        with apm.track_database(system, query=query):
            pass
        assert SECRET not in _everything_recorded(apm_capture)
        text = apm_capture.spans[0].attributes["db.query.text"]
        assert "SELECT * FROM users WHERE email = ? OR name = ?" == text


# --- LLM prompts and completions -------------------------------------------------------------


def _completion():
    return {
        "id": "chatcmpl-1",
        "model": "gpt-4o",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": f"{SECRET}-answer"}}],
        "usage": {"prompt_tokens": 12, "completion_tokens": 7},
    }  # fmt: skip


def _llm_traffic():
    @track_llm(provider="openai", model="gpt-4o")
    def ask(question):
        apm.current_operation().prompt([{"role": "user", "content": question}])
        return _completion()

    @track_llm(provider="openai", model="gpt-4o", stream=True)
    def ask_streaming(question):
        yield {"choices": [{"index": 0, "delta": {"content": f"{SECRET}-chunk"}}]}

    ask(f"{SECRET}-question")
    list(ask_streaming(f"{SECRET}-question"))
    with track_llm(provider="ollama", model="llama3.2") as op:
        op.prompt(f"{SECRET}-prompt")
        op.completion(f"{SECRET}-completion")


class TestLlmContent:
    def test_prompts_and_completions_are_absent_by_default(self):
        """By default no prompt, completion or streamed chunk text is recorded anywhere."""
        with capture_telemetry() as capture:
            _llm_traffic()
            recorded = _everything_recorded(capture)
        assert 3 == len(capture.spans)
        assert SECRET not in recorded
        assert 12 == capture.spans[0].attributes["gen_ai.usage.input_tokens"]

    def test_content_is_recorded_only_when_switched_on(self):
        """Control: with the opt-in switch on, the same calls do record the content."""
        with capture_telemetry(capture_message_content="span_only") as capture:
            _llm_traffic()
            recorded = _everything_recorded(capture)
        assert f"{SECRET}-question" in recorded
        assert f"{SECRET}-answer" in recorded


# --- exporter header secrets -----------------------------------------------------------------

HEADER_SECRETS = f"x-api-key={SECRET}-key,authorization=Bearer%20{SECRET}-token"


@pytest.fixture
def fresh_counts():
    yield
    apm.shutdown(timeout=1)


class TestExporterHeaderSecrets:
    @pytest.mark.usefixtures("fresh_counts")
    @pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
    def test_never_logged_through_failures_reconfiguration_and_shutdown(
        self, protocol, monkeypatch, caplog, capfd
    ):
        """Export failures, a changed configure() and shutdown log nothing of the headers."""
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", HEADER_SECRETS)
        caplog.set_level(logging.DEBUG)
        with OTLPReceiver() as receiver:
            receiver.mode = "error"
            endpoint = receiver.grpc_endpoint if protocol == "grpc" else receiver.http_endpoint
            apm.configure(endpoint=endpoint, protocol=protocol, timeout=1,
                          span_schedule_delay=0.05, metric_export_interval=0.2)  # fmt: skip
            with apm.track_cache("sessions"):
                pass
            wait_until(
                lambda: "traces.export_failed" in _health.telemetry_health()["dropped"],
                what="a failed span export being counted",
            )
            receiver.mode = "unavailable"
            apm.configure(headers={"x-api-key": f"{SECRET}-other"})  # ignored, with a warning
            apm.shutdown(timeout=2)
            sent = [request.headers.get("x-api-key", "") for request in receiver.requests]
        logged = "\n".join(
            [caplog.text]
            + [record.getMessage() for record in caplog.records]
            + [logging.Formatter().formatException(r.exc_info) for r in caplog.records
               if r.exc_info]
        )  # fmt: skip
        output = capfd.readouterr()
        assert SECRET not in logged
        assert SECRET not in output.out + output.err
        assert "headers" in caplog.text  # the ignored reconfiguration is named...
        assert f"{SECRET}-key" in sent  # ...and the control: the secret was really sent

    def test_never_shown_by_doctor(self, tmp_path):
        """``autobot-apm doctor`` with the headers variable set shows none of its values."""
        result = _doctor(tmp_path)
        assert 0 == result.returncode, result.stderr
        assert SECRET not in result.stdout + result.stderr

    def test_doctor_says_the_headers_are_set_and_where_from(self, tmp_path):
        """Control: doctor did read the variable; it shows only that headers are set."""
        result = _doctor(tmp_path)
        [line] = [line for line in result.stdout.splitlines() if line.split()[:1] == ["headers"]]
        assert ["headers", "<set>", "OTEL_EXPORTER_OTLP_HEADERS"] == line.split()


def _doctor(tmp_path):
    env = {**_clean_environment(), "OTEL_EXPORTER_OTLP_HEADERS": HEADER_SECRETS}
    return subprocess.run(
        [sys.executable, "-m", "autobot_apm.cli", "doctor", "--npu-sysfs-root", str(tmp_path)],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


# --- nothing is sent anywhere else -----------------------------------------------------------


def _clean_environment():
    """The test runner's environment without OTEL_* settings or proxies."""
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("OTEL_") and "proxy" not in key.lower()
    }


AUDITED_PROGRAM = textwrap.dedent("""
    import json, os, socket, sys

    seen = []

    def audit(event, args):
        if event == "socket.connect" and args[0].family in (socket.AF_INET, socket.AF_INET6):
            seen.append(["connect", list(args[1][:2])])
        elif event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr"):
            seen.append(["resolve", str(args[0])])
        elif event == "socket.sendto":
            seen.append(["sendto", str(args[1])])

    sys.addaudithook(audit)

    import psutil
    import autobot_apm as apm
    from autobot_apm.llm import track_llm

    apm.configure(service_name="audited", endpoint=os.environ["ENDPOINT"],
                  protocol=os.environ["PROTOCOL"], sampler=True, logging="otlp",
                  metric_export_interval=0.2, span_schedule_delay=0.05)

    @apm.track_api(route="/orders/{id}", method="GET")
    def handle(order_id):
        with apm.track_database("postgresql", query="SELECT * FROM orders WHERE id = 1"):
            pass
        with apm.track_cache("orders") as cache:
            cache.miss()
        with track_llm(provider="openai", model="gpt-4o") as op:
            op.usage(input_tokens=3, output_tokens=5)
        import logging
        logging.getLogger("audited").warning("order %s handled", order_id)

    for order_id in range(20):
        handle(order_id)
    sys.stdin.readline()  # periodic exports go on until the test has seen every signal
    remote = sorted({(c.raddr[0].removeprefix("::ffff:"), c.raddr[1])  # IPv4-mapped
                     for c in psutil.Process().net_connections("inet") if c.raddr})
    apm.shutdown(timeout=10)
    print(json.dumps({"seen": seen, "remote": [list(r) for r in remote]}))
""")


def _every_signal_exported(receiver):
    """Spans, metrics (sampler gauges among them) and logs have each been sent."""
    signals = {request.signal for request in receiver.requests}
    gauges = any(metric.name.startswith("system.") for metric in receiver.metrics)
    return gauges and {"traces", "metrics", "logs"} <= signals


class TestOnlyTheConfiguredEndpoint:
    @pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
    def test_every_connection_goes_to_the_configured_endpoint(self, protocol):
        """A configured app (sampler and log export on) connects to the collector only."""
        # Python sockets are watched with an audit hook; gRPC opens its sockets in C, so
        # the process's open connections are listed as well.
        with OTLPReceiver() as receiver:
            endpoint = receiver.grpc_endpoint if protocol == "grpc" else receiver.http_endpoint
            env = {**_clean_environment(), "ENDPOINT": endpoint, "PROTOCOL": protocol}
            with subprocess.Popen(
                [sys.executable, "-c", AUDITED_PROGRAM], env=env,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            ) as process:  # fmt: skip
                try:
                    wait_until(lambda: _every_signal_exported(receiver), 30, "every signal")
                    stdout, stderr = process.communicate("\n", timeout=60)
                finally:
                    process.kill()  # a no-op once it has exited
            assert 0 == process.returncode, stderr
            spans = receiver.wait_for_spans(80)
        report = json.loads(stdout.strip().splitlines()[-1])
        port = int(endpoint.rpartition(":")[2])
        collector = ["127.0.0.1", port]
        connects = [target for kind, target in report["seen"] if kind == "connect"]
        resolved = {target for kind, target in report["seen"] if kind == "resolve"}
        assert all(collector == target for target in connects), report["seen"]
        assert resolved <= {"127.0.0.1"}, resolved
        assert all(collector == remote for remote in report["remote"]), report["remote"]
        # Controls: the watch saw the export connections, and the export worked.
        assert collector in report["remote"]
        if protocol == "http/protobuf":
            assert connects
        assert {"audited"} == {span.resource["service.name"] for span in spans}
