#!/usr/bin/env bash
# Body of the composite action (action.yml): annotations, a job summary, a JSON report, the exit code.
# Inputs come as environment variables, so that this script can be run and tested outside GitHub.
set -uo pipefail

args=(--quiet --format github)
[ "${MARCHES_STRICT:-false}" = "true" ] && args+=(--strict)
[ -n "${MARCHES_AS_OF:-}" ] && args+=(--as-of "$MARCHES_AS_OF")
[ -n "${MARCHES_CPV:-}" ] && args+=(--cpv "$MARCHES_CPV")
[ -n "${MARCHES_CONFIG:-}" ] && args+=(--config "$MARCHES_CONFIG")
[ -n "${GITHUB_STEP_SUMMARY:-}" ] && args+=(--summary "$GITHUB_STEP_SUMMARY")
report="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/marches-rapport.json"
args+=(--json-report "$report")
read -r -a files <<< "${MARCHES_FILES:?MARCHES_FILES : fichiers à valider}"

marches validate "${files[@]}" "${args[@]}"
status=$?
if [ "$status" -ge 2 ]; then
  echo "::error title=marches::marches validate n'a pas pu lire les fichiers (code $status) : voir le journal."
fi
[ -n "${GITHUB_OUTPUT:-}" ] && echo "report=$report" >> "$GITHUB_OUTPUT"
exit "$status"
