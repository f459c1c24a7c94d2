#!/usr/bin/env bash
# Step of .github/workflows/live-check.yml (network). 1. `codegov releases --check-pages`: every listing
# page the discovery rules mark required must still match (exit 3 otherwise, naming the page). 2. Download
# and ingest the newest published or listed release of ICD-10-CM and HCPCS into a scratch folder: the
# parsers and the sources.toml file patterns meet the files the publishers serve today. 3. `codegov
# releases --verify`: every verified release's files still have the sha256 pinned in sources.toml.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
scratch=$(mktemp -d)
summary() { cat >>"${GITHUB_STEP_SUMMARY:-/dev/null}"; }

codegov releases --check-pages --format md --cache "$scratch/cache" | tee "$scratch/releases.md"
summary <"$scratch/releases.md"
for system in icd10cm hcpcs; do
  newest=$(codegov releases --offline --cache "$scratch/cache" --system "$system" --format csv |
    awk -F, '$4 == "published" || $4 == "listed" { id = $2 } END { print id }')
  if [ -n "$newest" ]; then
    codegov --releases "$scratch/releases" ingest --cache "$scratch/cache" --system "$system" --release "$newest"
  fi
done
codegov releases --verify --cache "$scratch/cache" --format csv >/dev/null
echo "live check passed" | summary
