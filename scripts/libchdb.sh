#!/usr/bin/env bash
# Prints the path of libchdb.so (ClickHouse 26.5 as an in-process library, for
# the embedded stack and the tests), fetching it once per machine into .cache/.
# The library comes from the npm package @chdb/lib-linux-x64-gnu, whose
# tarball npm checks against the registry's sha512 integrity.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
version=26.5.3
dir="$root/.cache/libchdb/$version"
lib="$dir/libchdb.so"
if [ ! -s "$lib" ]; then
  command -v npm >/dev/null || { echo "libchdb: npm is needed to fetch @chdb/lib-linux-x64-gnu@$version" >&2; exit 1; }
  echo "libchdb: fetching @chdb/lib-linux-x64-gnu@$version (167 MB, once per machine)" >&2
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "@chdb/lib-linux-x64-gnu@$version" >/dev/null 2>&1 \
    && tar xzf chdb-lib-linux-x64-gnu-$version.tgz package/libchdb.so)
  mkdir -p "$dir"
  mv "$tmp/package/libchdb.so" "$lib.partial"
  mv "$lib.partial" "$lib"
fi
echo "$lib"
