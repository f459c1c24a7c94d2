#!/usr/bin/env bash
# Step "update" of .github/workflows/codeset-update.yml: run `codegov update`, write the step summary,
# and set the outputs `changed` and `inventory_affected` for the steps after it.
#
# Reads (all optional): CODEGOV_SYSTEM (icd10cm, hcpcs, pos; empty or "all": every code set),
# CODEGOV_RELEASE (one release id or alias; needs a code set), CODEGOV_MIRROR (read official files
# from this folder instead of downloading, e.g. codesets/sample), CODEGOV_OFFLINE=1 (never download).
# Writes build/update.log, appends to $GITHUB_STEP_SUMMARY and $GITHUB_OUTPUT when they are set.
# `changed` is true when codesets/releases/ or site_src/generated/ differ from the checked-out commit.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"

tracked=(codesets/releases site_src/generated)
# The organisation's tracked release history, whatever mirror the run reads (the bundled sample keeps
# its own tables apart in codesets/releases-sample when run by hand)
export CODEGOV_RELEASES=codesets/releases
build=build
log=$build/update.log
body=$build/report/pr-body.md

output() { printf '%s=%s\n' "$1" "$2" >>"${GITHUB_OUTPUT:-/dev/null}"; echo "output: $1=$2"; }
summary() { cat >>"${GITHUB_STEP_SUMMARY:-/dev/null}"; }

args=(update --no-site)
[ -z "${CODEGOV_MIRROR:-}" ] || args+=(--mirror "$CODEGOV_MIRROR")
[ "${CODEGOV_OFFLINE:-}" != 1 ] || args+=(--offline)
system=${CODEGOV_SYSTEM:-all}
case "$system" in
  all) ;;
  icd10cm | hcpcs | pos) args+=(--system "$system") ;;
  *) echo "Error: unknown code set '$system': use icd10cm, hcpcs, pos or all" >&2; exit 1 ;;
esac
if [ -n "${CODEGOV_RELEASE:-}" ]; then
  if [ "$system" = all ]; then
    echo "Error: release '$CODEGOV_RELEASE' needs a code set (icd10cm, hcpcs or pos)" >&2
    exit 1
  fi
  args+=(--release "$CODEGOV_RELEASE")
fi

mkdir -p "$build"
echo "codegov ${args[*]}"
set +e
codegov "${args[@]}" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e

# The edit tables' Parquet is not committed (commit.sh) unless CODEGOV_EDIT_TABLES_IN_GIT=true: a rerun that
# writes it again from the cache changes nothing the pull request shows.
if [ "${CODEGOV_EDIT_TABLES_IN_GIT:-false}" != "true" ]; then tracked+=(":(exclude)codesets/releases/*/*.parquet"); fi
changed=false
if [ "$status" -eq 0 ] &&
  [ -n "$(git status --porcelain --ignored --untracked-files=all -- "${tracked[@]}")" ]; then
  changed=true
fi

# The inventory is affected when a code it lists is deleted, revised or reused in a new release.
affected=false
if [ "$status" -eq 0 ] && [ -f "$build/report/report.json" ]; then
  affected=$(python3 - "$build/report/report.json" <<'PY'
import json
import sys

data = json.load(open(sys.argv[1], encoding="utf-8"))
change_sets = data if isinstance(data, list) else [data]
hit = any((cs.get("inventory") or {}).get(kind) for cs in change_sets for kind in ("deleted", "revised", "reused"))
print("true" if hit else "false")
PY
)
fi

{
  if [ "$status" -ne 0 ]; then
    echo "## codegov update failed (exit status $status)"
    echo
    echo "Nothing is committed and no pull request is opened. The last lines of the log:"
    echo
    echo '```'
    tail -n 40 "$log"
    echo '```'
    if [ -f "$build/checks/results.md" ]; then
      echo
      cat "$build/checks/results.md"
    fi
  else
    [ ! -f "$body" ] || cat "$body"
    echo
    echo "---"
    if [ "$changed" = true ]; then
      echo "Release tables or generated pages differ from this branch: the next steps commit them to the update branch and open or update the pull request, unless it already shows them."
    else
      echo "Nothing was published since the last run: the release tables and generated pages are as on this branch, so no pull request is opened."
    fi
  fi
  echo
  echo "<details><summary>codegov update log</summary>"
  echo
  echo '```'
  tail -n 200 "$log"
  echo '```'
  echo
  echo "</details>"
} | summary

output changed "$changed"
output inventory_affected "$affected"
exit "$status"
