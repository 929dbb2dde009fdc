#!/usr/bin/env bash
# Monthly stats for finance: last month's rows per reseller as CSV, the MRR chart as
# SVG beside it, then mailed (when MAIL_TO is set and `mail` exists) or left in OUT_DIR.
# Exit codes are resellctl's: 0 done, 75 store unavailable (cron retries tomorrow), …
set -euo pipefail

OUT_DIR=${OUT_DIR:-/srv/resellctl/exports}
MONTH=${1:-$(date -u -d "$(date -u +%Y-%m-01) -1 day" +%Y-%m)}   # last month, UTC
mkdir -p "$OUT_DIR"

resellctl report monthly --month "$MONTH" -o csv --out "$OUT_DIR/stats-$MONTH.csv"
resellctl report activity --range 12m --metric mrr -o json --out "$OUT_DIR/mrr-$MONTH.svg" \
  >"$OUT_DIR/mrr-$MONTH.json"

if [[ -n "${MAIL_TO:-}" ]] && command -v mail >/dev/null; then
  mail -s "Reseller channel stats $MONTH" -A "$OUT_DIR/stats-$MONTH.csv" \
    -A "$OUT_DIR/mrr-$MONTH.svg" "$MAIL_TO" </dev/null
fi
echo "$OUT_DIR/stats-$MONTH.csv"
