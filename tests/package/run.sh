#!/bin/sh
# The package stage as one `meson test --suite package`: builds the .debs with
# dpkg-buildpackage -us -uc -b from a copy of the tracked tree (never the checkout itself, whose
# build directories dpkg-source must not see), then runs tests/package on them.
#     run.sh SOURCE_ROOT --junitxml=PATH [pytest options...]
set -eu
src=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
pkg=$(mktemp -d /tmp/phx-deb-XXXXXX)
trap 'rm -rf "$pkg"' EXIT
mkdir "$pkg/src"
(cd "$src" && git ls-files -co --exclude-standard | tar -cf - -T -) | tar -xf - -C "$pkg/src"
echo "== dpkg-buildpackage -us -uc -b (log: tail on failure)"
if ! (cd "$pkg/src" && dpkg-buildpackage -us -uc -b) >"$pkg/build.log" 2>&1; then
        tail -n 60 "$pkg/build.log"
        echo "!! dpkg-buildpackage failed"
fi
# The tests run even when the build failed: test_packages_were_built says so, case by case.
PHX_DEB_DIR="$pkg" /usr/bin/python3 "$here/../run-pytest.py" "$@" "$here"
