#!/bin/sh
# `make test`: host unit tests (ASan/UBSan, TSan, a bounded fuzz run), boot tests under QEMU
# TCG and in-guest scenarios under the best VMX platform, all through pytest, which ends with
# the plain line `N passed, N failed`.
set -e
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-$(test -x /usr/bin/python3 && echo /usr/bin/python3 || echo python3)}
# tests/harness/linux/ boots Linux for minutes: `make test-linux` (.ci/run runs both).
exec "$PYTHON" -m pytest -q tests/harness --ignore=tests/harness/linux "$@"
