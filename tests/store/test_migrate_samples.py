"""`plantstream ingest migrate-samples`: schema v1 raw samples become schema v2 points."""

from __future__ import annotations

from plantstream.devstack.services import InfluxD
from plantstream.store.influxql import InfluxQL
from plantstream.store.migrate_samples import migrate_samples
from plantstream.store.samples import count_samples
from plantstream.store.writer import LineWriter

T0 = 1_700_000_000_000
DAY = 86_400_000


def test_v1_samples_are_rewritten_wide_and_the_v1_series_dropped(
        influxd: InfluxD, database: str, influxql: InfluxQL) -> None:
    v1 = [  # two signals at the same instants, one at its own, two machines, two days
        f"sample,site=s,line=l,machine=m1,signal=temp value=20.5 {T0}",
        f"sample,site=s,line=l,machine=m1,signal=power_kw value=3.0 {T0}",
        f"sample,site=s,line=l,machine=m1,signal=temp value=21.5 {T0 + 1000}",
        f"sample,site=s,line=l,machine=m1,signal=power_kw value=4.0 {T0 + 1000}",
        f"sample,site=s,line=l,machine=m1,signal=speed value=7.0 {T0 + 500}",
        f"sample,site=s,line=l2,machine=m2,signal=temp value=30.0 {T0 + DAY + 5}",
    ]
    with LineWriter(url=influxd.url, database=database) as writer:
        writer.write(v1)
        assert int(influxql.scalar('SELECT count("value") FROM "sample"')) == 6
        read, written = migrate_samples(influxql, writer)
        assert (read, written) == (6, 4)  # m1: T0, T0+500, T0+1000; m2: one instant
        assert influxql.scalar('SELECT count("value") FROM "sample"') is None  # v1 gone
        assert count_samples(influxql) == 6
        rows = influxql.query('SELECT "temp", "power_kw", "speed" FROM "sample" '
                              "WHERE \"machine\" = 'm1'")[0].values
        assert rows == [[T0, 20.5, 3.0, None], [T0 + 500, None, None, 7.0],
                        [T0 + 1000, 21.5, 4.0, None]]
        m2 = influxql.query('SELECT "temp" FROM "sample" WHERE "machine" = \'m2\' '
                            'GROUP BY "line"')[0]
        assert m2.tags == {"line": "l2"} and m2.values == [[T0 + DAY + 5, 30.0]]
        assert migrate_samples(influxql, writer) == (0, 0)  # nothing left to move
