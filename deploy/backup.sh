#!/usr/bin/env bash
# A backup of the campaign database: pg_dump in its custom format (compressed, restorable
# table by table), written aside then renamed, so that a half-written dump never looks
# complete; checked readable by pg_restore; dumps older than BACKUP_KEEP_DAYS removed.
# Run nightly by campaign-backup.timer with the settings of /etc/campaign/campaign.env.
#   DATABASE_URL=postgresql://… [BACKUP_DIR=…] [BACKUP_KEEP_DAYS=14] deploy/backup.sh
set -euo pipefail
: "${DATABASE_URL:?DATABASE_URL is not set}"
dir="${BACKUP_DIR:-/var/backups/campaign}"
keep="${BACKUP_KEEP_DAYS:-14}"
url="${DATABASE_URL/postgresql+psycopg:/postgresql:}"  # libpq's URI, not SQLAlchemy's
url="${url/#postgres:/postgresql:}"

mkdir -p "$dir"
umask 077  # the dump holds every signer's address
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
partial="$dir/.campaign-$stamp.dump.partial"
trap 'rm -f "$partial"' EXIT
pg_dump --format=custom --no-owner --no-privileges --dbname="$url" --file="$partial"
pg_restore --list "$partial" >/dev/null
mv "$partial" "$dir/campaign-$stamp.dump"
find "$dir" -maxdepth 1 -name 'campaign-*.dump' -mtime +"$keep" -delete
echo "backup: $dir/campaign-$stamp.dump ($(du -h "$dir/campaign-$stamp.dump" | cut -f1))"
