#!/bin/sh
# Prepare deploy/k8s/generated/ for `kubectl apply -k deploy/k8s`:
# EMQX users + ACL from the plant registry, a CA and the broker certificate, gateway
# client certificates, rendered ingest/report configs. The InfluxDB URL and tokens
# are yours to provide: write them to generated/secrets/influxdb-url,
# influxdb-token (read+write) and influxdb-read-token before running this.
#
#   PLANT_CONFIG=plant.toml BROKER_HOST=mqtt.example.com deploy/k8s/setup.sh
set -eu

here=$(cd "$(dirname "$0")" && pwd)
gen="$here/generated"
plant="${PLANT_CONFIG:-$here/../config/plant.toml}"
broker_host="${BROKER_HOST:-mqtt.plantstream.local}"

umask 077
mkdir -p "$gen/secrets" "$gen/pki/gateways"
for required in influxdb-url influxdb-token influxdb-read-token; do
  if [ ! -s "$gen/secrets/$required" ]; then
    echo "missing $gen/secrets/$required (your InfluxDB 3 / Cloud endpoint and tokens)" >&2
    exit 1
  fi
done

cp "$plant" "$gen/plant.toml"
plantstream broker acl --config "$plant" --out "$gen" --secrets "$gen/secrets" --emqx
plantstream broker secrets --out "$gen/secrets" emqx-cookie emqx-dashboard-password
if [ ! -f "$gen/pki/ca.key" ]; then
  plantstream broker certs ca --out "$gen/pki"
fi
plantstream broker certs server --ca "$gen/pki" --out "$gen/pki" --name "$broker_host" \
  --san emqx.plantstream.svc.cluster.local --san emqx-gateways.plantstream.svc.cluster.local
plantstream broker certs gateways --config "$plant" --ca "$gen/pki" --out "$gen/pki/gateways"
for name in ingest reports; do
  plantstream broker render "$here/templates/$name.toml" --secrets "$gen/secrets" \
    --out "$gen/$name.toml"
done
echo "ready: kubectl apply -k $here"
