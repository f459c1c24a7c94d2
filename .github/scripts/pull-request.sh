#!/usr/bin/env bash
# Step "pull request" of .github/workflows/codeset-update.yml: push the update branch and open the pull
# request, or update the one that is open, with build/report/pr-body.md as its body.
#
# Needs the `gh` CLI with GH_TOKEN (the workflow's GITHUB_TOKEN). Reads CODEGOV_BRANCH (default
# codegov/update), BASE_BRANCH (default main) and INVENTORY_AFFECTED (true: label the pull request
# `inventory-affected`). The branch belongs to this job: each run rebuilds it on the base branch and
# force-pushes it (with a lease), so nobody should push to it by hand.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"

branch=${CODEGOV_BRANCH:-codegov/update}
base=${BASE_BRANCH:-main}
body=build/report/pr-body.md
label=inventory-affected

if [ ! -s "$body" ]; then
  echo "Error: $body is missing or empty: run .github/scripts/update.sh first" >&2
  exit 1
fi
if [ "$(git rev-parse --abbrev-ref HEAD)" != "$branch" ]; then
  echo "Error: not on $branch: run .github/scripts/commit.sh first" >&2
  exit 1
fi

# git authenticates through gh with GH_TOKEN, so the checkout never stores the token.
gh auth setup-git

# The pull requests ever opened from the branch, newest first: [{number, state, headRefOid}].
prs=$(gh pr list --head "$branch" --base "$base" --state all --limit 100 --json number,state,headRefOid)
pick() { python3 -c "$1" "$prs" "${2:-}"; }
open_pr=$(pick 'import json, sys; print(next((p["number"] for p in json.loads(sys.argv[1]) if p["state"] == "OPEN"), ""))')

# An earlier run may have pushed exactly these tables and pages already (the pull request is still in review).
remote=""
if git fetch --quiet --no-tags origin "+refs/heads/$branch:refs/remotes/origin/$branch" 2>/dev/null; then
  remote=$(git rev-parse "refs/remotes/origin/$branch")
fi
if [ -n "$remote" ] && [ "$(git rev-parse 'HEAD^{tree}')" = "$(git rev-parse "$remote^{tree}")" ]; then
  if [ -n "$open_pr" ]; then
    echo "nothing new: pull request #$open_pr already shows these release tables and pages"
    exit 0
  fi
  closed=$(pick 'import json, sys; print(sum(p["headRefOid"] == sys.argv[2] for p in json.loads(sys.argv[1])))' "$remote")
  if [ "$closed" != 0 ]; then
    echo "nothing new: a pull request with these release tables and pages was closed; not reopening it"
    exit 0
  fi
  echo "$branch holds these changes but no pull request shows them: opening one"
fi

# The lease: the remote branch must still be where it was fetched above (or still absent).
git push --quiet --force-with-lease="refs/heads/$branch:$remote" origin "HEAD:refs/heads/$branch"

title=$(git log -1 --format=%s)
if [ -n "$open_pr" ]; then
  gh pr edit "$open_pr" --title "$title" --body-file "$body"
  echo "updated pull request #$open_pr"
  target=$open_pr
else
  target=$(gh pr create --base "$base" --head "$branch" --title "$title" --body-file "$body")
  echo "opened $target"
fi

if [ "${INVENTORY_AFFECTED:-false}" = true ]; then
  gh label create "$label" --color B60205 \
    --description "Codes in our inventory are deleted, revised or reused in a new release" 2>/dev/null || true
  gh pr edit "$target" --add-label "$label"
elif [ -n "$open_pr" ]; then
  gh pr edit "$target" --remove-label "$label" 2>/dev/null || true
fi
