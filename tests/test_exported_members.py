"""The public surface of the package, pinned, and no internals leaking from it.

Like httpx's test of the same name: the package exposes nothing public beyond ``__all__``,
and every public module (no underscore in its dotted name) declares an ``__all__`` of
names that exist and are documented, so ``from module import *``, the API reference and
the type checker all see the same surface.
"""

import importlib
import inspect
import pkgutil
import types

import pytest

import autobot_apm


def _public_modules() -> list[str]:
    names = ["autobot_apm"]
    for info in pkgutil.walk_packages(autobot_apm.__path__, "autobot_apm."):
        if not any(part.startswith("_") for part in info.name.split(".")):
            names.append(info.name)
    return names


PUBLIC_MODULES = _public_modules()


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


def test_the_package_exposes_nothing_public_beyond_all():
    """Every public name of the package is in __all__ or is one of its submodules."""
    leaked = [
        name
        for name, value in vars(autobot_apm).items()
        if not name.startswith("_")
        and name not in autobot_apm.__all__
        and not isinstance(value, types.ModuleType)
    ]
    assert [] == leaked


def test_public_modules_are_found():
    """The walk finds the front doors and skips the private subsystems."""
    assert {"autobot_apm.api", "autobot_apm.sampler", "autobot_apm.testing"} <= set(PUBLIC_MODULES)
    assert not [name for name in PUBLIC_MODULES if "._" in name]


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_public_module_declares_a_documented_all(module_name):
    """__all__ exists, is sorted, and names things that exist; classes and functions in it
    have docstrings."""
    module = importlib.import_module(module_name)
    declared = getattr(module, "__all__", None)
    assert declared is not None, f"{module_name} has no __all__: its imports leak"
    assert sorted(declared) == list(declared)
    missing = [name for name in declared if not hasattr(module, name)]
    assert [] == missing
    undocumented = [
        name
        for name in declared
        if (inspect.isclass(getattr(module, name)) or inspect.isroutine(getattr(module, name)))
        and not inspect.getdoc(getattr(module, name))
    ]
    assert [] == undocumented


@pytest.mark.parametrize("module_name", PUBLIC_MODULES)
def test_star_import_gives_exactly_all(module_name):
    """``from module import *`` brings in __all__ and nothing else."""
    namespace: dict[str, object] = {}
    exec(f"from {module_name} import *", namespace)  # noqa: S102 - a fixed module name
    namespace.pop("__builtins__")
    assert sorted(importlib.import_module(module_name).__all__) == sorted(namespace)
