"""What a report was measured on: the figures are only comparable on the same machine."""

from __future__ import annotations

import os
import platform
from importlib import metadata

PACKAGES = (
    "autobot-apm",
    "opentelemetry-sdk",
    "fastapi",
    "starlette",
    "uvicorn",
    "wrapt",
    "logfire",
    "ddtrace",
    "opentelemetry-instrumentation-fastapi",
)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def describe() -> str:
    """A few Markdown lines: CPU, cores, load, Python, and the versions that matter."""
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    versions = ", ".join(f"{name} {version(name)}" for name in PACKAGES)
    return "\n".join(
        [
            f"- machine: {cpu_model()}, {os.cpu_count()} logical CPUs, load average {load}",
            f"- Python {platform.python_version()} ({platform.python_implementation()}), "
            f"{platform.system()} {platform.release()}",
            f"- {versions}",
        ]
    )
