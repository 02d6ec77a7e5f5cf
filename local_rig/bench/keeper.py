"""The token keeper alone: 64 threads reading a server's token across several refreshes,
against a loopback token endpoint handing out 2 s tokens: the token requests sent against
the refreshes needed, and the latency of a cached read."""

from __future__ import annotations

import json
import threading
import time
from array import array
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from werkzeug import Request, Response
from werkzeug.serving import make_server

from orthanc_dicomweb_oauth.config.loader import load_configuration
from orthanc_dicomweb_oauth.tokens.server_tokens import create_server_tokens


@contextmanager
def token_endpoint(lifetime: float) -> Iterator[tuple[str, list[int]]]:
    requests = [0]

    @Request.application
    def issue(_: Request) -> Response:
        requests[0] += 1
        body = {
            "access_token": f"token-{requests[0]}",
            "token_type": "Bearer",
            "expires_in": lifetime,
        }
        return Response(json.dumps(body), content_type="application/json")

    server = make_server("127.0.0.1", 0, issue, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/token", requests
    finally:
        server.shutdown()


def measure(seconds: float, threads: int) -> dict[str, Any]:
    lifetime = 2.0  # refresh due after about 1 s
    with token_endpoint(lifetime) as (url, requests):
        loaded = load_configuration(
            {
                "DicomWebOAuth": {
                    "Servers": {
                        "bench": {
                            "Url": "http://127.0.0.1:9/",
                            "TokenEndpoint": url,
                            "ClientId": "bench",
                            "ClientSecret": "bench-secret",
                        }
                    }
                }
            },
            environ={},
        )
        tokens = create_server_tokens(loaded.servers["bench"])
        keeper = tokens.keeper
        keeper.token()
        single = array("q")
        for _ in range(100_000):
            started = time.perf_counter_ns()
            keeper.token()
            single.append(time.perf_counter_ns() - started)
        samples = [array("q") for _ in range(threads)]
        stop = threading.Event()
        barrier = threading.Barrier(threads + 1)

        def read(sample: array[int]) -> None:
            barrier.wait()
            while not stop.is_set():
                started = time.perf_counter_ns()
                keeper.token()
                sample.append(time.perf_counter_ns() - started)

        workers = [threading.Thread(target=read, args=(s,)) for s in samples]
        for worker in workers:
            worker.start()
        requests_before = requests[0]
        refreshes_before = keeper.status().refreshes
        barrier.wait()
        time.sleep(seconds)
        stop.set()
        for worker in workers:
            worker.join()
        status = keeper.status()
        tokens.close()
    sent = requests[0] - requests_before
    needed = status.refreshes - refreshes_before
    merged = sorted(v for s in samples for v in s)
    single_sorted = sorted(single)
    return {
        "threads": threads,
        "seconds": seconds,
        "token_lifetime_s": lifetime,
        "reads": len(merged),
        "token_requests_sent": sent,
        "refreshes_needed": needed,
        "extra_token_requests": sent - needed,
        "cached_read_p50_us": round(single_sorted[len(single_sorted) // 2] / 1000, 2),
        "cached_read_p99_us": round(single_sorted[int(len(single_sorted) * 0.99)] / 1000, 2),
        "read_p50_us_64_threads": round(merged[len(merged) // 2] / 1000, 2),
        "read_p99_us_64_threads": round(merged[int(len(merged) * 0.99)] / 1000, 2),
    }
