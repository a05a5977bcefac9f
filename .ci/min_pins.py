"""Print pip constraints that pin every runtime dependency to its declared floor.

``python .ci/min_pins.py > constraints.txt`` turns each ``name>=X`` of pyproject.toml's
``[project] dependencies`` into ``name==X``, so CI can test the oldest versions a user may
legitimately install. A dependency without a ``>=`` floor is an error: it would go untested.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

FLOOR = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*>=\s*([^,;\s]+)\s*$")


def pins(pyproject: Path) -> list[str]:
    """``name==floor`` for each runtime dependency of ``pyproject``."""
    dependencies = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    found = []
    for requirement in dependencies:
        match = FLOOR.match(requirement)
        if match is None:
            raise SystemExit(f"no single '>=' floor to pin in {requirement!r}")
        found.append(f"{match[1]}=={match[2]}")
    return found


if __name__ == "__main__":
    root = Path(__file__).resolve().parent.parent
    sys.stdout.write("".join(f"{pin}\n" for pin in pins(root / "pyproject.toml")))
