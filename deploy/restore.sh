#!/usr/bin/env bash
# Restore a dump of deploy/backup.sh into an EMPTY database, in one transaction (all or
# nothing), then print what it holds so that it can be compared with the live site.
#   deploy/restore.sh /var/backups/campaign/campaign-….dump postgresql://…/campaign_restored
# The target must exist and be empty (createdb campaign_restored); the app's migrations are
# in the dump, so `flask db upgrade` afterwards only applies newer ones.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 DUMP TARGET_DATABASE_URL" >&2; exit 2; }
dump="$1"
url="${2/postgresql+psycopg:/postgresql:}"
url="${url/#postgres:/postgresql:}"

tables="$(psql --no-psqlrc -tAc "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'" "$url")"
if [ "$tables" != 0 ]; then
  echo "restore: the target database is not empty ($tables tables): nothing done" >&2
  exit 1
fi
pg_restore --no-owner --no-privileges --exit-on-error --single-transaction --dbname="$url" "$dump"
psql --no-psqlrc -tA -F ' ' "$url" <<'SQL'
SELECT 'migration', version_num FROM alembic_version;
SELECT 'petition', p.slug,
       (SELECT count(*) FROM signatures s WHERE s.petition_id = p.id),
       (SELECT count(*) FROM signatures s WHERE s.petition_id = p.id AND s.confirmed_at IS NOT NULL)
FROM petitions p ORDER BY p.slug;
SELECT 'outbox', count(*) FROM outbox;
SQL
