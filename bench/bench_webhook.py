"""Benchmark the webhook sensor's request path and print the figures.

    .venv/bin/python bench/bench_webhook.py [--seconds 2] [--eventlet]

For 1-, 100- and 1,000-alert deliveries at client concurrency 1, 8 and 32 it
prints deliveries/s, alerts/s and p50/p99 latency for:

- floor:   the same server stack (WebhookServer: routing, auth, body read,
           JSON answer) with a do-nothing app;
- parse:   a reference only: the floor plus ``json.loads`` of the body, the
           least any handler that reads the alerts must do;
- sensor:  the real app (parse, validate, dedup, build payloads, dispatch)
           with a dispatch that costs 0 ms, and again with 10 ms (a slow
           st2 message bus), dispatching on the sensor's worker pool.

The server runs in its own process (the client never shares its GIL). Every
delivery carries fresh startsAt values so nothing is a duplicate. Last, RSS
growth of the sensor's app after 1,000,000 alerts.

Targets: sensor overhead over the floor < 30%; a 1,000-alert delivery at
10 ms per dispatch answered in < 2 s; RSS growth < 20 MB.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "lib"))

from pack_paths import use_pack_paths  # noqa: E402

use_pack_paths()

from deliveries import make_delivery  # noqa: E402

TOKEN = "bench-token"
SIZES = (1, 100, 1000)
CONCURRENCY = (1, 8, 32)
STARTS_PLACEHOLDER = "2099-01-01T00:00:00.000000000Z"


# --------------------------------------------------------------- server side
def serve(mode: str, delay_ms: float, port_file: str) -> None:
    """Run a server until SIGTERM; write its port to ``port_file``."""
    import logging

    from local_sensor_service import LocalSensorService

    from poundcake.dedup import DedupCache
    from poundcake.ingest import AlertIngestor
    from poundcake.metrics import SensorMetrics
    from poundcake.settings import load_settings
    from poundcake.webhook_server import WebhookServer
    from poundcake.workers import WorkerPool

    log = logging.getLogger("bench")
    log.addHandler(logging.NullHandler())
    log.propagate = False
    settings = load_settings({"listen_host": "127.0.0.1", "listen_port": 0, "bearer_token": TOKEN})
    metrics = SensorMetrics()
    if mode == "floor":

        def app(body: bytes, request_id: str):
            return 200, {"request_id": request_id}

    elif mode == "parse":

        def app(body: bytes, request_id: str):
            json.loads(body)
            return 200, {"request_id": request_id}

    else:
        service = LocalSensorService(None, dispatch_delay=delay_ms / 1000.0, validate=False)
        ingestor = AlertIngestor(
            dispatch=service.dispatch,
            pool=WorkerPool(settings.dispatch_concurrency),
            dedup=DedupCache(settings.dedup_window_seconds, settings.dedup_max_entries),
            metrics=metrics,
            logger=log,
            timeout=30.0,
        )
        app = ingestor.respond
    server = WebhookServer(settings, app, metrics, log)
    with open(port_file, "w") as fp:
        fp.write(str(server.address[1]))
    signal.signal(signal.SIGTERM, lambda *_: server.request_stop())
    server.serve()
    server.close(grace=1.0)


# --------------------------------------------------------------- client side
class Server:
    def __init__(self, mode: str, delay_ms: float, eventlet: bool) -> None:
        port_file = os.path.join("/tmp", f"poundcake-bench-{os.getpid()}-{mode}-{delay_ms}")
        if os.path.exists(port_file):
            os.unlink(port_file)
        args = [sys.executable, __file__, "--serve", mode, "--delay-ms", str(delay_ms)]
        args += ["--port-file", port_file] + (["--eventlet"] if eventlet else [])
        self.proc = subprocess.Popen(args)
        deadline = time.monotonic() + 20
        while not (os.path.exists(port_file) and open(port_file).read()):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("benchmark server did not start")
            time.sleep(0.05)
        self.port = int(open(port_file).read())
        os.unlink(port_file)

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def post(port: int, body: bytes) -> float:
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request(
        "POST",
        "/webhook",
        body,
        {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    resp = conn.getresponse()
    resp.read()
    conn.close()
    if resp.status != 200:
        raise RuntimeError(f"benchmark request got HTTP {resp.status}")
    return time.perf_counter() - started


def run_load(port: int, size: int, concurrency: int, seconds: float) -> dict:
    """Closed-loop load: ``concurrency`` clients posting back to back."""
    template = json.dumps(make_delivery(size, starts_at=STARTS_PLACEHOLDER))
    counter = iter(range(10**9))
    latencies: list = []
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def client() -> None:
        while time.perf_counter() < stop_at:
            n = next(counter)
            starts = f"2030-01-01T00:00:00.{n:09d}Z"
            body = template.replace(STARTS_PLACEHOLDER, starts).encode()
            took = post(port, body)
            with lock:
                latencies.append(took)

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "deliveries_per_s": len(latencies) / elapsed,
        "alerts_per_s": len(latencies) * size / elapsed,
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
        "requests": len(latencies),
    }


def rss_growth(alerts_total: int = 1_000_000, per_delivery: int = 1000) -> tuple:
    """RSS (MB) of the sensor's app before and after ``alerts_total`` unique alerts."""
    import logging

    from local_sensor_service import LocalSensorService

    from poundcake.dedup import DedupCache
    from poundcake.ingest import AlertIngestor
    from poundcake.metrics import SensorMetrics
    from poundcake.settings import WebhookSettings
    from poundcake.workers import WorkerPool

    settings = WebhookSettings()
    log = logging.getLogger("bench.rss")
    log.propagate = False
    service = LocalSensorService(None, validate=False)
    ingestor = AlertIngestor(
        dispatch=service.dispatch,
        pool=WorkerPool(settings.dispatch_concurrency),
        dedup=DedupCache(settings.dedup_window_seconds, settings.dedup_max_entries),
        metrics=SensorMetrics(),
        logger=log,
    )
    rounds = alerts_total // per_delivery
    warmup = 5
    before = 0.0
    for i in range(rounds + warmup):
        body = json.dumps(make_delivery(per_delivery, offset=i * per_delivery)).encode()
        status, _ = ingestor.respond(body, f"req-{i:032x}")
        assert status == 200, status
        if i == warmup - 1:
            before = _rss_mb()
    return before, _rss_mb(), service.dispatched


def _rss_mb() -> float:
    with open("/proc/self/status") as fp:
        for line in fp:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmRSS in /proc/self/status")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="per measurement")
    parser.add_argument("--eventlet", action="store_true", help="server monkey-patched as in st2")
    parser.add_argument("--serve", choices=("floor", "parse", "sensor"), help=argparse.SUPPRESS)
    parser.add_argument("--delay-ms", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--port-file", help=argparse.SUPPRESS)
    parser.add_argument("--rss-only", action="store_true")
    args = parser.parse_args()
    if args.serve:
        if args.eventlet:
            import eventlet

            eventlet.monkey_patch()
        serve(args.serve, args.delay_ms, args.port_file)
        return 0

    failures = []
    if not args.rss_only:
        failures += throughput_tables(args.seconds, args.eventlet)
    before, after, dispatched = rss_growth()
    growth = after - before
    print(f"\nRSS after {dispatched:,} alerts through the sensor app (dedup_max_entries=50,000):")
    print(
        f"  before {before:.1f} MB, after {after:.1f} MB, growth {growth:.1f} MB (target < 20 MB)"
    )
    if growth >= 20:
        failures.append(f"RSS growth {growth:.1f} MB")
    print("\nRESULT: " + ("all targets met" if not failures else "MISSED: " + "; ".join(failures)))
    return 1 if failures else 0


def throughput_tables(seconds: float, eventlet: bool) -> list:
    runtime = "eventlet (as in st2)" if eventlet else "OS threads"
    print(
        f"server runtime: {runtime}; {seconds:.1f} s per cell; "
        "2-core machine shared with the client"
    )
    results = {}
    for mode, delay in (("floor", 0.0), ("parse", 0.0), ("sensor", 0.0), ("sensor", 10.0)):
        server = Server(mode, delay, eventlet)
        try:
            for size in SIZES:
                for conc in CONCURRENCY:
                    results[(mode, delay, size, conc)] = run_load(server.port, size, conc, seconds)
        finally:
            server.close()

    header = (
        f"{'case':<22}{'alerts':>7}{'conc':>6}{'deliv/s':>10}{'alerts/s':>11}"
        f"{'p50 ms':>9}{'p99 ms':>9}"
    )
    print("\n" + header + "\n" + "-" * len(header))
    for (mode, delay, size, conc), r in results.items():
        names = {"floor": "floor (no-op app)", "parse": "parse (json.loads only)"}
        name = names.get(mode, f"sensor, {delay:g} ms/dispatch")
        print(
            f"{name:<22}{size:>7}{conc:>6}{r['deliveries_per_s']:>10.1f}{r['alerts_per_s']:>11.0f}"
            f"{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}"
        )

    failures = []
    print(
        "\nsensor (0 ms dispatch) vs floor, by throughput: "
        "overhead = floor/sensor - 1 (target < 30%)"
    )
    for size in SIZES:
        for conc in CONCURRENCY:
            floor = results[("floor", 0.0, size, conc)]["deliveries_per_s"]
            ours = results[("sensor", 0.0, size, conc)]["deliveries_per_s"]
            overhead = floor / ours - 1
            print(
                f"  {size:>5} alerts, conc {conc:>2}: "
                f"ratio {floor / ours:5.2f}  overhead {overhead:6.1%}"
            )
            if overhead >= 0.30:
                failures.append(f"overhead {overhead:.0%} at {size} alerts conc {conc}")
    print("\nfor reference, sensor vs the json.loads-only app: floor/sensor - 1")
    for size in SIZES:
        cells = []
        for conc in CONCURRENCY:
            parse = results[("parse", 0.0, size, conc)]["deliveries_per_s"]
            ours = results[("sensor", 0.0, size, conc)]["deliveries_per_s"]
            cells.append(f"conc {conc:>2} {parse / ours - 1:6.1%}")
        print(f"  {size:>5} alerts: " + "   ".join(cells))
    single = results[("sensor", 10.0, 1000, 1)]
    print(
        f"\n1,000-alert delivery at 10 ms/dispatch, concurrency 1: p50 {single['p50_ms']:.0f} ms, "
        f"p99 {single['p99_ms']:.0f} ms (target < 2000 ms)"
    )
    if single["p99_ms"] >= 2000:
        failures.append("1,000 alerts at 10 ms/dispatch over 2 s")
    return failures


if __name__ == "__main__":
    sys.exit(main())
