#!/bin/sh
# Prepare deploy/generated/ for `docker compose -f deploy/compose.yaml up`:
#   - Mosquitto password file + ACL from the plant registry (config/plant.toml);
#   - random secrets (MQTT users, InfluxDB admin/token/v1 users, Grafana admin, the
#     sample regulator's report API token and its SHA-256);
#   - a CA, the broker's server certificate and one client certificate per gateway;
#   - ingest.toml and reports.toml with their {{secret:...}} placeholders filled.
# Existing secrets and the CA are kept, so running it again after editing the plant
# registry only adds what is new. Needs `plantstream` on PATH (pip install
# plantstream[server]). Run as root to hand the files to the secrets group.
#
#   BROKER_HOST=mqtt.plant.example deploy/setup.sh
set -eu

here=$(cd "$(dirname "$0")" && pwd)
gen="$here/generated"
plant="${PLANT_CONFIG:-$here/config/plant.toml}"
broker_host="${BROKER_HOST:-mqtt.plantstream.local}"
secrets_gid="${PLANTSTREAM_SECRETS_GID:-10100}"

umask 077
mkdir -p "$gen/secrets" "$gen/config" "$gen/pki/gateways" "$gen/mosquitto"

plantstream broker acl --config "$plant" --out "$gen/mosquitto" --secrets "$gen/secrets"
plantstream broker secrets --out "$gen/secrets" \
  influxdb-admin-password influxdb-admin-token \
  influxdb-ingest-password influxdb-reader-password grafana-admin-password \
  reports-token-sample
# the report configuration holds only the SHA-256 of a regulator's token
plantstream reports hash-token --stdin < "$gen/secrets/reports-token-sample" \
  > "$gen/secrets/reports-token-sample.sha256"

if [ ! -f "$gen/pki/ca.key" ]; then
  plantstream broker certs ca --out "$gen/pki"
fi
plantstream broker certs server --ca "$gen/pki" --out "$gen/pki" \
  --name "$broker_host" --san mosquitto --san localhost
plantstream broker certs gateways --config "$plant" --ca "$gen/pki" \
  --out "$gen/pki/gateways"

for name in ingest reports; do
  plantstream broker render "$here/config/$name.toml" \
    --secrets "$gen/secrets" --out "$gen/config/$name.toml"
done

# Containers run as their own users; they read the files through one group.
if [ "$(id -u)" = 0 ]; then
  chgrp -R "$secrets_gid" "$gen"
  chmod -R g+rX "$gen"
  chmod g-r "$gen/pki/ca.key"   # the CA key stays with the operator
else
  echo "not root: run  sudo chgrp -R $secrets_gid $gen && sudo chmod -R g+rX $gen" \
       "&& sudo chmod g-r $gen/pki/ca.key" >&2
fi
echo "ready: docker compose -f $here/compose.yaml up -d"
