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
        "DatabaseOperation",
        "LlmOperation",
        "Operation",
        "Sampler",
        "TraceContextFilter",
        "TraceContextFormatter",
        "TrackedOperation",
        "configure",
        "current_operation",
        "describe_hardware",
        "instrument_fastapi",
        "instrument_logging",
        "is_configured",
        "is_excluded_request",
        "observe_connection_pool",
        "shutdown",
        "start_sampler",
        "telemetry_health",
        "track_api",
        "track_cache",
        "track_database",
        "track_llm",
        "track_operation",
        "uninstrument_logging",
    ]
    assert expected == autobot_apm.__all__
    assert sorted(autobot_apm.__all__) == autobot_apm.__all__
    assert all(hasattr(autobot_apm, name) for name in expected)
