#!/usr/bin/env bash
# Step "pack" of .github/workflows/codeset-update.yml (job update, read-only token): put what the update
# wrote (the release tables, the generated pages and the report) in build/changes.tar, the artifact the
# publish job commits. The update job parses network data and never holds a write token; the publish
# job holds it and runs only git, tar and gh on this archive.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"

paths=()
for p in codesets/releases site_src/generated build/report; do
  if [ -e "$p" ]; then paths+=("$p"); fi
done
mkdir -p build
tar -cf build/changes.tar -- "${paths[@]}"
echo "packed ${paths[*]} into build/changes.tar"
