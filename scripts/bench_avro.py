#!/usr/bin/env python3
"""fastavro on the Avro bodies `creek bench avro --bodies FILE` wrote: schemaless
decode of every body to a dict, and decode + re-encode, in records/s (one thread).

Usage: scripts/bench_avro.py FILE   (reads FILE and FILE.avsc; prints one JSON line)
"""
import io
import json
import struct
import sys
import time

import fastavro


def main() -> None:
    path = sys.argv[1]
    with open(path + ".avsc") as f:
        schema = fastavro.parse_schema(json.load(f))
    with open(path, "rb") as f:
        data = f.read()
    bodies = []
    pos = 0
    while pos < len(data):
        (n,) = struct.unpack_from("<I", data, pos)
        pos += 4
        bodies.append(data[pos : pos + n])
        pos += n

    reader = fastavro.schemaless_reader
    t = time.perf_counter()
    for b in bodies:
        reader(io.BytesIO(b), schema, None)
    decode = time.perf_counter() - t

    writer = fastavro.schemaless_writer
    t = time.perf_counter()
    for b in bodies:
        out = io.BytesIO()
        writer(out, schema, reader(io.BytesIO(b), schema, None))
    round_trip = time.perf_counter() - t
    n = len(bodies)
    print(json.dumps({
        "records": n,
        "fastavro": fastavro.__version__,
        "fastavro_decode_rps": n / decode,
        "fastavro_round_trip_rps": n / round_trip,
    }))


if __name__ == "__main__":
    main()
