#!/usr/bin/env bash
# Installs Pretix for the end-to-end tests into .pretix/venv (gitignored)
# and migrates its empty database once, cached under .pretix/cache.
# Idempotent: a second run takes a second. The e2e suite runs it itself
# when .pretix/venv is missing; .ci/run runs it before the tests.
set -euo pipefail
cd "$(dirname "$0")/../.."
python=${PYTHON:-python3}
if [ ! -x .pretix/venv/bin/python ]; then
    # Debian's own Python lacks the venv module unless python3-venv is
    # installed; virtualenv from PyPI does the same job
    if ! "$python" -m venv .pretix/venv 2>/dev/null; then
        rm -rf .pretix/venv
        "$python" -m pip install --quiet --user virtualenv
        "$python" -m virtualenv --quiet .pretix/venv
    fi
fi
if ! .pretix/venv/bin/python -c 'import pretix' 2>/dev/null; then
    .pretix/venv/bin/pip install --disable-pip-version-check --quiet 'pretix==2026.8.*'
fi
.pretix/venv/bin/python tests/pretix/fixture.py prepare >/dev/null
