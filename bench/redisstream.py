"""RedisStreamLog from the middleware: the time it adds per request over a TimeRotatingLog.

Run: ``make bench-redis`` (or ``.venv/bin/python bench/redisstream.py
[--runs N] [--calls N] [--redis URL] [--partitions N]``); needs Redis.

The same app and middleware serve the same returning-visitor request with
each log in turn, interleaved, and the medians are compared. The streams
written are deleted afterwards.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import uuid
from pathlib import Path

import redis

from frontend import SECRET, bare_app, base_environ, time_app
from manhattan.log.redisstream import RedisStreamLog, stream_key
from manhattan.log.timerotating import TimeRotatingLog
from manhattan.middleware import ManhattanMiddleware
from manhattan.web.cookies import CookieSigner, new_visitor_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--partitions", type=int, default=4)
    args = parser.parse_args()
    stream = f"bench:{uuid.uuid4().hex}"
    environ = base_environ(CookieSigner(SECRET).sign(new_visitor_id()))
    with tempfile.TemporaryDirectory() as tmp:
        files = ManhattanMiddleware(bare_app, TimeRotatingLog(Path(tmp) / "log"), SECRET)
        streams_log = RedisStreamLog(
            args.redis, stream, args.partitions, fallback=str(Path(tmp) / "fallback")
        )
        streams = ManhattanMiddleware(bare_app, streams_log, SECRET)
        try:
            time_app(streams, environ, args.calls // 10)  # connect, warm up
            file_times, stream_times = [], []
            for _ in range(args.runs):
                file_times.append(time_app(files, environ, args.calls))
                stream_times.append(time_app(streams, environ, args.calls))
        finally:
            client = redis.Redis.from_url(args.redis)
            client.delete(*(stream_key(stream, i) for i in range(args.partitions)))
            client.close()
            streams_log.close()
    file_us = statistics.median(file_times) * 1e6
    stream_us = statistics.median(stream_times) * 1e6
    print(f"RedisStreamLog benchmark: median of {args.runs} runs, {args.calls} requests each")
    print(f"  middleware + TimeRotatingLog, us/request   {file_us:8.2f}")
    print(f"  middleware + RedisStreamLog, us/request    {stream_us:8.2f}")
    print(f"  added by RedisStreamLog, us (target 100)   {stream_us - file_us:8.2f}")


if __name__ == "__main__":
    main()
