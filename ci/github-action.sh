#!/usr/bin/env bash
# Body of the composite action (action.yml): annotations, a job summary, a JSON report, the exit code.
# Inputs come as environment variables, so that this script can be run and tested outside GitHub.
#
# MARCHES_FILES holds files, folders and shell patterns separated by spaces. GitHub passes it
# as it is written in the workflow (`exports/decp-*.json` is not expanded by anyone before us):
# patterns are expanded here (`**` included), and a folder stands for the JSON and XML files it
# holds, at any depth (a folder of marches' CSV tables, with its datapackage.json, is validated
# as such).
set -uo pipefail
shopt -s nullglob globstar

args=(--quiet --format github)
[ "${MARCHES_STRICT:-false}" = "true" ] && args+=(--strict)
[ -n "${MARCHES_AS_OF:-}" ] && args+=(--as-of "$MARCHES_AS_OF")
[ -n "${MARCHES_CPV:-}" ] && args+=(--cpv "$MARCHES_CPV")
[ -n "${MARCHES_CONFIG:-}" ] && args+=(--config "$MARCHES_CONFIG")
[ -n "${GITHUB_STEP_SUMMARY:-}" ] && args+=(--summary "$GITHUB_STEP_SUMMARY")
report="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/marches-rapport.json"
args+=(--json-report "$report")

fail() {
  echo "::error title=marches::$1"
  echo "$1" >&2
  exit 3
}

set -f  # split the input on spaces without expanding it yet
read -r -a words <<< "${MARCHES_FILES:?MARCHES_FILES : fichiers à valider}"
set +f
files=()
for word in "${words[@]}"; do
  if [[ "$word" == *[*?[]* ]]; then
    matches=($word)  # the pattern, expanded here (nullglob: nothing when nothing matches)
    [ "${#matches[@]}" -eq 0 ] && fail "aucun fichier ne correspond au motif « $word »."
  else
    matches=("$word")
  fi
  for path in "${matches[@]}"; do
    if [ -d "$path" ] && [ ! -f "$path/datapackage.json" ]; then
      found=("$path"/**/*.[jJ][sS][oO][nN] "$path"/**/*.[xX][mM][lL])
      [ "${#found[@]}" -eq 0 ] && fail "le dossier « $path » ne contient aucun fichier JSON ou XML."
      files+=("${found[@]}")
    else
      files+=("$path")
    fi
  done
done

marches validate "${files[@]}" "${args[@]}"
status=$?
if [ "$status" -ge 2 ]; then
  echo "::error title=marches::marches validate n'a pas pu lire les fichiers (code $status) : voir le journal."
fi
[ -n "${GITHUB_OUTPUT:-}" ] && echo "report=$report" >> "$GITHUB_OUTPUT"
exit "$status"
