#!/usr/bin/env bash
# Build the site into site/ for .github/workflows/pages.yml and ci.yml, with MkDocs (the default) or, when
# CODEGOV_SITE_BUILDER=zensical (a repository variable), with Zensical: both read mkdocs.yml, which
# INHERITs the navigation `codegov render` wrote (site_src/generated/.nav.yml), and run in this folder.
#
# An organisation's deployment commits the release tables and generated pages (the scheduled update's
# pull request), so the site is built from exactly what was reviewed and merged. Where they are not
# committed (the codegov repository itself), they are generated from the bundled sample first.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
export NO_MKDOCS_2_WARNING=1 # codegov pins mkdocs<2; its notice about MkDocs 2 is noise here

if [ -n "$(git ls-files -- site_src/generated)" ]; then
  echo "building from the committed release tables and generated pages"
else
  echo "no generated pages are committed: generating them from the bundled sample (codesets/sample)"
  codegov update --mirror codesets/sample --offline --no-site
fi
if [ ! -d site_src/generated ]; then
  echo "Error: site_src/generated is missing: codegov update renders it (or run \`codegov render\`)" >&2
  exit 1
fi
case "${CODEGOV_SITE_BUILDER:-mkdocs}" in
  mkdocs) mkdocs build --strict --site-dir site ;;
  zensical) zensical build --strict ;; # into site/, the site_dir of mkdocs.yml (zensical takes no --site-dir)
  *)
    echo "Error: CODEGOV_SITE_BUILDER=${CODEGOV_SITE_BUILDER}: expected mkdocs or zensical" >&2
    exit 1
    ;;
esac
