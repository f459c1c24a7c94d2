#!/usr/bin/env bash
# Step "unpack" of .github/workflows/codeset-update.yml (job publish): replace the release tables and the
# generated pages of the checkout with those in build/changes.tar (the update job's), so a table or page
# the update removed is removed here too. Refuses an archive with a member outside those folders.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"

archive=build/changes.tar
if [ ! -s "$archive" ]; then
  echo "Error: $archive is missing: the update job packs it" >&2
  exit 1
fi
if tar -tf "$archive" | grep -Ev '^(codesets/releases|site_src/generated|build/report)(/|$)' | grep -q .; then
  echo "Error: $archive holds a member outside codesets/releases, site_src/generated and build/report" >&2
  exit 1
fi
rm -rf codesets/releases site_src/generated build/report
tar -xf "$archive"
echo "unpacked $(tar -tf "$archive" | grep -c -v '/$') file(s)"
