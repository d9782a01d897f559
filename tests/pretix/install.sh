#!/usr/bin/env bash
# Installs Pretix for the end-to-end tests into .pretix/venv (gitignored)
# and migrates its empty database once, cached under .pretix/cache.
# Idempotent: a second run takes a second. The e2e suite runs it itself
# when .pretix/venv is missing; .ci/run runs it before the tests.
set -euo pipefail
cd "$(dirname "$0")/../.."
python=${PYTHON:-python3}
if [ ! -x .pretix/venv/bin/python ]; then
    "$python" -m venv .pretix/venv
fi
if ! .pretix/venv/bin/python -c 'import pretix' 2>/dev/null; then
    .pretix/venv/bin/pip install --disable-pip-version-check --quiet 'pretix==2026.8.*'
fi
.pretix/venv/bin/python tests/pretix/fixture.py prepare >/dev/null
