"""A stand-in S7 PLC for the tests: python-snap7's server in its own process.

    python s7_plc.py PORT [DB1_HEX]

Registers DB1 (256 bytes, starting with the bytes DB1_HEX: retentive memory kept
across a restart), DB2 (16 bytes), 64 merker bytes, 16 input and 16 output
bytes, all zero; prints "ready" once it listens; runs until its standard input closes
or it is killed. The tests write its memory over S7 like an HMI would (db_write...).
"""

from __future__ import annotations

import logging
import sys

from snap7 import Server, SrvArea


def main() -> None:
    port = int(sys.argv[1])
    logging.basicConfig(level=logging.WARNING)
    server = Server(log=False)
    db1 = bytearray(256)
    if len(sys.argv) > 2:
        retained = bytes.fromhex(sys.argv[2])
        db1[:len(retained)] = retained
    server.register_area(SrvArea.DB, 1, db1)
    server.register_area(SrvArea.DB, 2, bytearray(16))
    server.register_area(SrvArea.MK, 0, bytearray(64))
    server.register_area(SrvArea.PE, 0, bytearray(16))
    server.register_area(SrvArea.PA, 0, bytearray(16))
    server.start_to("127.0.0.1", port)
    print("ready", flush=True)
    try:
        sys.stdin.read()  # until the test closes our stdin
    finally:
        server.stop()


if __name__ == "__main__":
    main()
