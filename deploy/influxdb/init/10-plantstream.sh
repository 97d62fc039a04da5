#!/bin/bash
# Runs once, when the influxdb container initialises an empty data volume (after the
# DOCKER_INFLUXDB_INIT_* setup created org, bucket, retention and the operator token).
#
# 1. DBRP mapping: InfluxQL database "plantstream", retention policy "autogen" -> the
#    bucket, so ingest (v1 /write), Grafana and the reports (v1 /query) use InfluxQL.
# 2. v1 users with the least they need: `ingest` reads and writes the bucket,
#    `reader` (Grafana, report API) only reads it. Passwords come from secret files.
set -euo pipefail

db="${PLANTSTREAM_DATABASE:-plantstream}"
bucket_id="${DOCKER_INFLUXDB_INIT_BUCKET_ID:?set by the influxdb image during setup}"
org="${DOCKER_INFLUXDB_INIT_ORG:?}"

influx v1 dbrp create --org "$org" --bucket-id "$bucket_id" \
  --db "$db" --rp autogen --default

influx v1 auth create --org "$org" --username ingest \
  --password "$(cat /run/secrets/influxdb-ingest-password)" \
  --read-bucket "$bucket_id" --write-bucket "$bucket_id" \
  --description "plantstream ingest workers and rollup job"

influx v1 auth create --org "$org" --username reader \
  --password "$(cat /run/secrets/influxdb-reader-password)" \
  --read-bucket "$bucket_id" \
  --description "plantstream Grafana and report API (read-only)"
