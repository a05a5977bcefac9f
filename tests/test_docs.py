"""The documentation site builds strictly, and its examples are true.

Code blocks in ``docs/*.md`` are checked by kind:

* every ``python`` block compiles;
* a ``python`` block preceded by ``<!-- runnable -->`` runs, in a fresh interpreter, and
  exits 0 (its own ``assert`` statements state what it shows);
* one preceded by ``<!-- runnable: pytest -->`` is a test module, and passes under pytest
  with the ``apm_capture`` fixture the package installs;
* every ``promql`` block is valid PromQL, as ``promtool`` parses it.

The configuration reference is generated from the settings table and must match it.
"""

from __future__ import annotations

import ast
import importlib.util
import inspect
import os
import re
import shutil
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

import autobot_apm as apm
from autobot_apm._sdk.settings import SETTINGS

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
MARKERS = {"<!-- runnable -->": "python", "<!-- runnable: pytest -->": "pytest"}
FENCE = re.compile(r"^(\s*)```(\w*)\s*$")
# Pages whose examples this suite must find, so that a broken parser cannot pass.
PAGES_WITH_RUNNABLE_EXAMPLES = {"index.md", "trackers.md", "testing.md", "faq.md"}
RUN_TIMEOUT = 60


@dataclass(frozen=True)
class Block:
    """A fenced code block: where it is, its language, how it is run, its text."""

    page: str
    line: int
    language: str
    run: str | None
    code: str

    def __str__(self) -> str:
        return f"{self.page}:{self.line}"


def blocks_of(path: Path) -> list[Block]:
    found: list[Block] = []
    lines = path.read_text().splitlines()
    index = 0
    while index < len(lines):
        opening = FENCE.match(lines[index])
        if not opening:
            index += 1
            continue
        end = next(i for i in range(index + 1, len(lines)) if lines[i].strip() == "```")
        before = next((line.strip() for line in reversed(lines[:index]) if line.strip()), "")
        code = textwrap.dedent("\n".join(lines[index + 1 : end]))
        found.append(Block(path.name, index + 1, opening[2], MARKERS.get(before), code + "\n"))
        index = end + 1
    return found


ALL_BLOCKS = [block for page in sorted(DOCS.glob("*.md")) for block in blocks_of(page)]
PYTHON = [block for block in ALL_BLOCKS if block.language == "python"]
RUNNABLE = [block for block in PYTHON if block.run == "python"]
PYTEST = [block for block in PYTHON if block.run == "pytest"]
PROMQL = [block for block in ALL_BLOCKS if block.language == "promql"]


def syntax_error(code: str) -> str | None:
    """Why ``code`` is not valid Python (top-level await allowed); None when it is."""
    try:
        compile(code, "<example>", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    except SyntaxError as error:
        return f"line {error.lineno}: {error.msg}"
    return None


def clean_environment() -> dict[str, str]:
    """The test's environment without OTEL_* or AUTOBOT_APM_* settings from the shell.

    An example must not export to a collector a developer happens to have configured.
    """
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("OTEL_", "AUTOBOT_APM_")) or key == "AUTOBOT_APM_STRICT"
    }


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=cwd, env=clean_environment(), capture_output=True, text=True,
        timeout=RUN_TIMEOUT, check=False,
    )  # fmt: skip


def generator() -> ModuleType:
    """docs/gen_configuration.py, imported from its path (docs/ is not a package)."""
    spec = importlib.util.spec_from_file_location(
        "gen_configuration", DOCS / "gen_configuration.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class TestSite:
    def test_builds_strictly(self, tmp_path: Path) -> None:
        """mkdocs build --strict succeeds: every nav page exists, every link resolves."""
        pytest.importorskip("mkdocs", reason="mkdocs is not installed: docs build NOT RUN")
        built = run(
            [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet",
             "--config-file", str(ROOT / "mkdocs.yml"), "--site-dir", str(tmp_path / "site")],
            ROOT,
        )  # fmt: skip
        assert 0 == built.returncode, built.stderr
        assert (tmp_path / "site" / "configuration" / "index.html").is_file()


class TestConfigurationReference:
    def test_committed_page_is_generated_from_the_settings(self) -> None:
        """docs/configuration.md is what gen_configuration.py writes today."""
        module = generator()
        assert module.render() == module.PAGE.read_text(), (
            "docs/configuration.md is stale: run python docs/gen_configuration.py"
        )

    def test_every_setting_is_a_configure_keyword(self) -> None:
        """The page promises each setting is an argument of configure(); so it is."""
        keywords = set(inspect.signature(apm.configure).parameters)
        assert set() == {setting.name for setting in SETTINGS} - keywords


class TestCodeBlocks:
    def test_examples_were_found(self) -> None:
        """Each page known to have runnable examples yields some (the parser works)."""
        pages = {block.page for block in RUNNABLE + PYTEST}
        assert set() == PAGES_WITH_RUNNABLE_EXAMPLES - pages

    def test_markers_are_known(self) -> None:
        """A misspelt marker would silently leave an example unchecked."""
        used = {
            line.strip()
            for page in DOCS.glob("*.md")
            for line in page.read_text().splitlines()
            if line.strip().startswith("<!-- runnable")
        }
        assert set() == used - set(MARKERS)

    @pytest.mark.parametrize("block", PYTHON, ids=str)
    def test_python_block_compiles(self, block: Block) -> None:
        """Every Python example is valid Python (top-level await allowed)."""
        assert None is syntax_error(block.code), f"{block} is not valid Python"

    def test_the_syntax_check_tells_broken_code(self) -> None:
        """Control: the check above rejects broken code and accepts top-level await."""
        assert "line 1" in (syntax_error("def f(:\n") or "")
        assert None is syntax_error("await main()\n")

    @pytest.mark.parametrize("block", RUNNABLE, ids=str)
    def test_runnable_block_runs(self, block: Block, tmp_path: Path) -> None:
        """A runnable example runs to the end in a fresh interpreter."""
        script = tmp_path / "example.py"
        script.write_text(block.code)
        result = run([sys.executable, str(script)], tmp_path)
        assert 0 == result.returncode, result.stderr

    @pytest.mark.parametrize("block", PYTEST, ids=str)
    def test_pytest_block_passes(self, block: Block, tmp_path: Path) -> None:
        """A test-module example passes under pytest, with warnings as errors."""
        (tmp_path / "test_example.py").write_text(block.code)
        # pytest-asyncio warns about its own unset option outside this project's config.
        result = run(
            [sys.executable, "-m", "pytest", "-q", "-W", "error", "-p", "no:cacheprovider",
             "-p", "no:asyncio", "test_example.py"],
            tmp_path,
        )  # fmt: skip
        assert 0 == result.returncode, result.stdout + result.stderr

    def test_promql_blocks_parse(self, tmp_path: Path) -> None:
        """Each query of each promql block is accepted by promtool."""
        promtool = shutil.which("promtool")
        if promtool is None:
            pytest.skip("promtool is not installed (apt-get install prometheus): NOT RUN")
        queries = [query for block in PROMQL for query in queries_of(block)]
        assert queries
        rules = tmp_path / "queries.yml"
        rules.write_text(as_recording_rules(queries))
        checked = run([promtool, "check", "rules", str(rules)], tmp_path)
        assert 0 == checked.returncode, checked.stdout + checked.stderr


PACKAGE = ROOT / "src" / "autobot_apm"
# A path in backticks, with at least one folder: `_tracking/runtime.py`, `tests/x.py::T`.
NAMED_PATH = re.compile(r"`([\w.-]+(?:/[\w.-]+)+\.py)(?:::[^`]*)?`")


def house_modules() -> set[str]:
    """The modules the tree under "## The house" in architecture.md lists, as paths."""
    text = (DOCS / "architecture.md").read_text().split("## The house", 1)[1]
    tree = text.split("```text\n", 1)[1].split("```", 1)[0]
    folders: list[str] = []
    listed: set[str] = set()
    for line in tree.splitlines()[1:]:  # the first line is src/autobot_apm/ itself
        depth = (len(line) - len(line.lstrip())) // 2 - 1
        name = line.split()[0]
        del folders[depth:]
        if name.endswith("/"):
            folders.append(name)
        else:
            listed.add("".join(folders) + name)
    return listed


def is_module(path: Path) -> bool:
    """Not a subfolder's ``__init__.py`` that holds only the folder's docstring."""
    if path.name != "__init__.py" or path.parent == PACKAGE:
        return True
    return len(path.read_text().splitlines()) > 3


class TestArchitecture:
    def test_the_house_lists_every_module_and_no_other(self) -> None:
        """architecture.md names every module of the package, where it is, and no other."""
        modules = {
            path.relative_to(PACKAGE).as_posix()
            for path in PACKAGE.rglob("*.py")
            if is_module(path)
        }
        listed = house_modules()
        assert (set(), set()) == (modules - listed, listed - modules)

    def test_every_path_named_in_the_docs_exists(self) -> None:
        """A path a page names (`_http/fastapi.py`, a test file) is there to be read."""
        pages = [*sorted(DOCS.glob("*.md")), ROOT / "README.md"]
        missing = [
            f"{page.name}: {match[1]}"
            for page in pages
            for match in NAMED_PATH.finditer(page.read_text())
            if not any((base / match[1]).exists() for base in (ROOT, PACKAGE))
        ]
        assert [] == missing


def queries_of(block: Block) -> list[str]:
    """The queries of a promql block: paragraphs, without their # comments."""
    paragraphs = re.split(r"\n\s*\n", block.code)
    lines_of = [[line for line in p.splitlines() if not line.lstrip().startswith("#")]
                for p in paragraphs]  # fmt: skip
    return ["\n".join(lines) for lines in lines_of if any(line.strip() for line in lines)]


def as_recording_rules(queries: list[str]) -> str:
    rules = "".join(
        f"      - record: docs:query_{number}\n        expr: |\n"
        + textwrap.indent(query, " " * 10)
        + "\n"
        for number, query in enumerate(queries)
    )
    return "groups:\n  - name: docs\n    rules:\n" + rules
