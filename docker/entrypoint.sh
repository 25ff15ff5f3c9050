#!/bin/sh
# Container entrypoint for grid-backend.
#
#   (no arguments) or "serve":  apply migrations, retrying while the database comes up,
#                               then replace this shell with the web server (one container).
#   "migrate":                  only that: apply migrations with the same retries, then exit
#                               (compose's one-shot `migrate` service, which the replicas
#                               wait for, so two replicas never migrate at once).
#   anything else:              run that command as given, without migrating, e.g.
#                               docker run IMAGE grid-backend seed demo
#                               docker run IMAGE grid-backend serve   (a replica)
set -eu

# Let `docker stop` end the wait loop promptly (sh as PID 1 otherwise ignores SIGTERM).
trap 'exit 143' TERM INT

attempts=30   # tries at `grid-backend migrate`, 2 s apart: roughly a minute in all

mode="${1:-serve}"
if [ "$mode" != "serve" ] && [ "$mode" != "migrate" ]; then
    exec "$@"
fi

n=1
until grid-backend migrate; do
    if [ "$n" -ge "$attempts" ]; then
        echo "entrypoint: 'grid-backend migrate' failed $attempts times;" \
             "is the database at GRID_DATABASE_URL reachable? See the errors above." >&2
        exit 1
    fi
    echo "entrypoint: migrate failed (attempt $n/$attempts), retrying in 2 s" >&2
    n=$((n + 1))
    sleep 2
done

if [ "$mode" = "migrate" ]; then
    exit 0
fi
exec grid-backend serve --host "${GRID_HOST:-0.0.0.0}" --port "${GRID_PORT:-8000}"
