"""The public surface of the package, pinned."""

import autobot_apm


def test_public_names():
    """__all__ lists exactly the documented public names, sorted."""
    expected = [
        "APMMiddleware",
        "ApiOperation",
        "CacheOperation",
        "ConfigurationError",
        "ConnectionPool",
        "ContextThreadPoolExecutor",
        "DatabaseOperation",
        "LlmOperation",
        "MessageOperation",
        "Operation",
        "Sampler",
        "TraceContextFilter",
        "TraceContextFormatter",
        "TrackedOperation",
        "attach_context",
        "configure",
        "current_operation",
        "describe_hardware",
        "extract",
        "inject",
        "instrument_fastapi",
        "instrument_http_clients",
        "instrument_logging",
        "is_configured",
        "is_excluded_request",
        "observe_connection_pool",
        "propagate_context",
        "shutdown",
        "start_sampler",
        "telemetry_health",
        "track_api",
        "track_background",
        "track_cache",
        "track_database",
        "track_llm",
        "track_message",
        "track_operation",
        "uninstrument_http_clients",
        "uninstrument_logging",
    ]
    assert expected == autobot_apm.__all__
    assert sorted(autobot_apm.__all__) == autobot_apm.__all__
    assert all(hasattr(autobot_apm, name) for name in expected)
