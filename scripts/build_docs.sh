#!/usr/bin/env bash
# Build the documentation as CI does: the HTML site with warnings as errors (the gallery's
# examples are executed, so a broken example fails the build), then the doctest builder, which
# runs every code block of the user guide. Both build into a temporary directory, so the
# checkout stays clean. Needs the docs extra: python -m pip install -e ".[docs]".
#
#   scripts/build_docs.sh            # both builders; prints the output directory
#   KEEP_DOCS=1 scripts/build_docs.sh   # keep the temporary directory (to look at the HTML)
set -euo pipefail
cd "$(dirname "$0")/.."

out=$(mktemp -d)
export MPLBACKEND=Agg
# One BLAS thread: the gallery times small matrix products, and spinning BLAS threads on a
# shared machine make those erratic.
export OPENBLAS_NUM_THREADS="${OPENBLAS_NUM_THREADS:-1}" OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"

# autosummary and sphinx-gallery write generated sources into docs/; start from none, so a
# removed example or API name cannot linger, and leave none behind.
rm -rf docs/generated docs/auto_examples docs/sg_execution_times.rst
trap 'rm -rf docs/generated docs/auto_examples docs/sg_execution_times.rst; if [ -z "${KEEP_DOCS:-}" ]; then rm -rf "$out"; fi' EXIT

start=$SECONDS
echo "== sphinx html (-W: warnings are errors; the gallery runs)"
python -m sphinx -W --keep-going -b html -d "$out/doctrees" docs "$out/html"
echo "== sphinx doctest (every code block of the user guide)"
python -m sphinx -W --keep-going -b doctest -d "$out/doctrees" docs "$out/doctest"
echo "== docs built in $((SECONDS - start)) s; HTML in $out/html${KEEP_DOCS:+ (kept)}"
