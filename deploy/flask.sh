#!/bin/sh
# A `flask` command run as the units run: as the campaign user, in the app folder, with
# /etc/campaign/campaign.env (whose values may hold spaces, so it is not a shell file).
# Give files by absolute path: the command runs in /srv/campaign/app.
#   sudo /srv/campaign/app/deploy/flask.sh db upgrade
#   sudo /srv/campaign/app/deploy/flask.sh console create-admin --email … --name …
if [ -t 0 ]; then io=--pty; else io=--pipe; fi
exec systemd-run --quiet "$io" --wait --collect \
  --uid=campaign --gid=campaign \
  -p EnvironmentFile=/etc/campaign/campaign.env \
  -p WorkingDirectory=/srv/campaign/app \
  -E PROMETHEUS_MULTIPROC_DIR=/run/campaign/metrics \
  /srv/campaign/app/.venv/bin/flask --app wsgi "$@"
