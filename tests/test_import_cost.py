"""``import autobot_apm`` loads only what every application needs.

Counted, never timed: a fresh interpreter imports the package and reports which modules
it loaded and, for the costly optional ones, which module asked for them first.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import autobot_apm
from autobot_apm._version import VERSION

ROOT = Path(__file__).resolve().parents[1]

# Needed only when the Prometheus endpoint is turned on (the standard library's WSGI
# server pulls in http.server and the email package).
PROMETHEUS_SERVER_MODULES = (
    "autobot_apm._sdk.prometheus",
    "wsgiref.simple_server",
    "http.server",
    "socketserver",
)

# Records, in the fresh interpreter, the module whose code first imported each watched
# module (the innermost frame outside the import machinery), then imports the package.
_PROBE = """
import json, sys

WATCHED = {"importlib.metadata", "http.server", "wsgiref.simple_server"}
importers = {}

class Recorder:
    def find_spec(self, name, path=None, target=None):
        if name in WATCHED and name not in importers:
            frame = sys._getframe(1)
            while frame is not None and frame.f_globals.get("__name__", "").startswith(
                ("importlib", "_frozen_importlib")
            ):
                frame = frame.f_back
            importers[name] = frame.f_globals.get("__name__") if frame else None
        return None

sys.meta_path.insert(0, Recorder())
import autobot_apm
print(json.dumps({"modules": sorted(sys.modules), "importers": importers}))
"""


def _import_in_fresh_interpreter() -> dict[str, dict[str, str] | list[str]]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AUTOBOT_APM_")}
    environment["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "src"), *filter(None, [environment.get("PYTHONPATH")])]
    )
    completed = subprocess.run(
        [sys.executable, "-c", _PROBE],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(completed.stdout)  # type: ignore[no-any-return]


def test_the_probe_sees_the_package_under_test() -> None:
    report = _import_in_fresh_interpreter()
    assert "autobot_apm.asgi" in report["modules"]
    assert "autobot_apm._sdk.parsers.network" in report["modules"]  # the setting's parser


def test_prometheus_server_modules_are_not_loaded_until_the_endpoint_is_on() -> None:
    loaded = set(_import_in_fresh_interpreter()["modules"])
    assert loaded.isdisjoint(PROMETHEUS_SERVER_MODULES), loaded & set(PROMETHEUS_SERVER_MODULES)


def test_no_module_of_the_package_imports_importlib_metadata() -> None:
    # A dependency (wrapt 2's post-import hooks) may load it; the package itself must not.
    importer = _import_in_fresh_interpreter()["importers"].get("importlib.metadata")  # type: ignore[union-attr]
    assert importer is None or not importer.startswith("autobot_apm"), importer


def test_the_version_constant_matches_the_project_metadata() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert VERSION == declared
    assert autobot_apm.__version__ == VERSION
