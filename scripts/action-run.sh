#!/usr/bin/env bash
# The run step of the GitHub Action (action.yml): the action's inputs arrive as environment
# variables (never pasted into the script, so a pattern or a URI cannot inject shell code), become
# hydrate's flags, and the run's status and report file go to $GITHUB_OUTPUT.
#   HYDRATE_SOURCE, HYDRATE_SINK        --source, --sink
#   HYDRATE_FILTER                      one --filter per non-empty line (a file or inline JSON)
#   HYDRATE_REPORT_FILE                 --report-file (the JSON report, uploaded by the action)
#   HYDRATE_ARGS                        more flags, one per line (--dry-run, --checkpoint, ck.json, ...)
set -uo pipefail

args=(--source "${HYDRATE_SOURCE:?the action needs a source}" --sink "${HYDRATE_SINK:-ndjson:-}")
while IFS= read -r line; do
  [ -n "${line//[[:space:]]/}" ] && args+=(--filter "$line")
done <<<"${HYDRATE_FILTER:-}"
report=${HYDRATE_REPORT_FILE:-hydrate-report.json}
args+=(--report-file "$report")
mkdir -p "$(dirname "$report")"
while IFS= read -r line; do
  [ -n "${line//[[:space:]]/}" ] && args+=("$line")
done <<<"${HYDRATE_ARGS:-}"

echo "hydrate ${args[*]}" >&2
hydrate "${args[@]}"
code=$?

status=none
if [ -f "$report" ]; then
  status=$(node -e 'process.stdout.write(String(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).status ?? "unknown"))' "$report" 2>/dev/null || echo unknown)
fi
if [ -n "${GITHUB_OUTPUT:-}" ]; then
  {
    echo "status=$status"
    echo "exit-code=$code"
    echo "report-file=$report"
  } >>"$GITHUB_OUTPUT"
fi
if [ -n "${GITHUB_STEP_SUMMARY:-}" ] && [ -f "$report" ]; then
  {
    echo "### hydrate: $status"
    echo
    echo '```json'
    node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); console.log(JSON.stringify({ status: r.status, source: r.source, filter: r.filter, sink: r.sink && { uri: r.sink.uri, written: r.sink.written, skipped: r.sink.skipped, failed: r.sink.failed } }, null, 2))' "$report" 2>/dev/null
    echo '```'
  } >>"$GITHUB_STEP_SUMMARY"
fi
exit "$code"
