#!/usr/bin/env bash
# Step "commit" of .github/workflows/codeset-update.yml: commit the release tables and the generated
# pages on the update branch (CODEGOV_BRANCH, default codegov/update), on top of the checked-out commit.
#
# codesets/releases/ and site_src/generated/ are git-ignored in the codegov repository itself, where
# they are generated on demand; an organisation's deployment commits them, so that the pull request's
# file diff shows every changed code (a new release is a <release>.changes.csv of the rows removed and
# added, ingest/delta.py) and the Pages site is built from what was reviewed. Hence `git add -f`.
# Nothing outside those two folders is staged: codesets/private/ (the organisation's licensed CPT
# descriptors, ingest/cpt.py) never is.
# Sets the output `changed` to true when it made a commit, false when nothing changed.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"

branch=${CODEGOV_BRANCH:-codegov/update}
output() { printf '%s=%s\n' "$1" "$2" >>"${GITHUB_OUTPUT:-/dev/null}"; echo "output: $1=$2"; }

paths=()
for p in codesets/releases site_src/generated; do
  if [ -e "$p" ] || [ -n "$(git ls-files -- "$p")" ]; then paths+=("$p"); fi
done
if [ "${#paths[@]}" -eq 0 ]; then
  echo "nothing to commit: there are no release tables or generated pages"
  output changed false
  exit 0
fi

# The edit tables (codesets/releases/{ptp,mue,aoc,pfs}/*.parquet) carry CPT codes under the AMA licence and
# run to tens of MB a quarter: their manifests (sha256, row counts) are committed, the tables only when
# CODEGOV_EDIT_TABLES_IN_GIT=true (a private repository that wants them reviewed). Otherwise the next run
# ingests them again from the download cache.
exclude=()
if [ "${CODEGOV_EDIT_TABLES_IN_GIT:-false}" != "true" ]; then exclude=(":(exclude)codesets/releases/*/*.parquet"); fi
git add -f -A -- "${paths[@]}" "${exclude[@]}"
if git diff --cached --quiet; then
  echo "nothing changed: the release tables and generated pages are as in $(git rev-parse --short HEAD)"
  output changed false
  exit 0
fi

# The subject names the newest release of each code set; the body, every release table added, changed
# or removed.
msg=$(mktemp)
trap 'rm -f "$msg"' EXIT
git diff --cached --name-status --no-renames -- codesets/releases | python3 -c '
import sys

NAMES = {"icd10cm": "ICD-10-CM", "hcpcs": "HCPCS", "pos": "POS", "ptp": "NCCI PTP", "mue": "MUE", "aoc": "add-on codes", "pfs": "PFS RVUs"}
VERBS = {"A": "added", "M": "changed", "D": "removed"}
tables = []
for line in sys.stdin:
    status, path = line.rstrip("\n").split("\t", 1)
    parts = path.split("/")
    # codesets/releases/<system>/<release>.csv (a full table) or <release>.changes.csv (its changes against an
    # earlier release, ingest/delta.py); conversion tables and manifests ride along unnamed
    if len(parts) == 4 and parts[3].endswith(".changes.csv") and parts[3].count(".") == 2:
        tables.append((parts[2], parts[3][: -len(".changes.csv")], VERBS.get(status[0], status)))
    elif len(parts) == 4 and parts[3].endswith(".csv") and parts[3].count(".") == 1:
        tables.append((parts[2], parts[3][:-4], VERBS.get(status[0], status)))
    # an edit table is named by its manifest (its Parquet table may stay out of git)
    elif len(parts) == 4 and parts[2] in ("ptp", "mue", "aoc", "pfs") and parts[3].endswith(".manifest.json"):
        tables.append((parts[2], parts[3].split(".")[0], VERBS.get(status[0], status)))
verbs = {}
for system, release, verb in tables:  # one release stored whole instead of as changes (or back): changed
    verbs[(system, release)] = verb if verbs.get((system, release), verb) == verb else "changed"
tables = [(system, release, verb) for (system, release), verb in verbs.items()]
newest = {}
for system, release, verb in tables:
    if verb != "removed":
        newest[system] = max(newest.get(system, ""), release)
order = [s for s in NAMES if s in newest] + sorted(set(newest) - set(NAMES))
if order:
    subject = "Code-set update: " + ", ".join(f"{NAMES.get(s, s)} {newest[s]}" for s in order)
elif tables:
    subject = "Code-set update: release tables removed"
else:
    subject = "Code-set update: generated pages regenerated (no new release)"
print(subject)
print()
print("Written by the scheduled codegov update (.github/workflows/codeset-update.yml).")
if tables:
    print()
    print("Release tables (codesets/releases):")
    rank = {s: i for i, s in enumerate(NAMES)}
    for system, release, verb in sorted(tables, key=lambda t: (rank.get(t[0], len(rank)), t[0], t[1])):
        print(f"- {NAMES.get(system, system)} {release}: {verb}")
' >"$msg"
pages=$(git diff --cached --name-only -- site_src/generated | wc -l)
{
  echo
  echo "Generated pages added, changed or removed (site_src/generated): $pages"
  echo
  echo "The deleted-code report is the pull request's body (build/report/pr-body.md)."
} >>"$msg"

git config user.name >/dev/null || git config user.name "github-actions[bot]"
git config user.email >/dev/null || git config user.email "41898282+github-actions[bot]@users.noreply.github.com"
git switch --quiet -C "$branch"
git commit --quiet --no-verify -F "$msg"
git log -1 --shortstat --format='commit %h on %D%n%n%B'
output changed true
