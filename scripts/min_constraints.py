"""Print pip constraints that pin every dependency of pyproject.toml to its lowest allowed release.

``bash scripts/setup.sh min`` installs with them, so CI tests the lower end of each declared range.
torch is left out: it stays at the CPU wheel setup.sh installs first (a pin would pull a CUDA build).

Example:
    >>> pins(['numpy>=1.24', 'torch>=2.1', 'pytest>=8', 'tqdm'])
    ['numpy==1.24', 'pytest==8']
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import tomllib

PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"
UNPINNED = {"torch"}


def pins(requirements: list[str]) -> list[str]:
    """``name==lowest`` for each ``name>=lowest`` requirement (others and ``UNPINNED`` skipped)."""
    out = []
    for requirement in requirements:
        match = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*>=\s*([^,;\s]+)\s*", requirement)
        if match and match.group(1).lower() not in UNPINNED:
            out.append(f"{match.group(1)}=={match.group(2)}")
    return out


def main() -> None:
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in sys.argv[1:] or ["test"]:
        requirements += project["optional-dependencies"][extra]
    print("\n".join(dict.fromkeys(pins(requirements))))


if __name__ == "__main__":
    main()
