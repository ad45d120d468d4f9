"""Receive Alertmanager webhooks and dispatch their alerts to st2 as triggers.

The pack's library lives in ``actions/lib/poundcake`` because st2 puts
``actions/lib`` on the path of Python actions by default; sensors get no such
path unless ``[packs] enable_common_libs`` is on, so this module adds it
itself. Both sides therefore import the same ``poundcake`` package on a
default st2 install.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

_LIB = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "../actions/lib"))
if _LIB not in sys.path:
    sys.path.insert(0, _LIB)

from st2reactor.sensor.base import Sensor  # noqa: E402

from poundcake.alertmanager_api import Alertmanager  # noqa: E402
from poundcake.board import Board  # noqa: E402
from poundcake.dedup import DedupCache  # noqa: E402
from poundcake.escalations import EscalationKeeper  # noqa: E402
from poundcake.incident_view import IncidentView  # noqa: E402
from poundcake.index import IndexWriter  # noqa: E402
from poundcake.ingest import AlertIngestor  # noqa: E402
from poundcake.lifecycle_config import Retention  # noqa: E402
from poundcake.metrics import SensorMetrics  # noqa: E402
from poundcake.recorder import IncidentRecorder  # noqa: E402
from poundcake.settings import ConfigError, load_settings  # noqa: E402
from poundcake.st2_api import St2Api  # noqa: E402
from poundcake.state_metrics import FailedMessages, RemediationMetrics, StatePoller  # noqa: E402
from poundcake.state_store import StateStore  # noqa: E402
from poundcake.transitions import teller  # noqa: E402
from poundcake.watchdog import Watchdog  # noqa: E402
from poundcake.webhook_server import WebhookServer  # noqa: E402
from poundcake.workers import WorkerPool  # noqa: E402

# st2 sends SIGTERM and then SIGKILL 5 s later: in-flight requests and the
# recorder's queue get this long.
SHUTDOWN_GRACE_SECONDS = 4.0


def _coordination_lock(name: str):
    """A lock of st2's coordination backend (the sensor container loads st2's
    config, as the actions' runner does): the watchdog writes incident
    records that the actions write too."""
    from st2common.services import coordination

    return coordination.get_coordinator(start_heart=False).get_lock(name)


class AlertmanagerWebhookSensor(Sensor):
    def __init__(self, sensor_service, config=None):
        super().__init__(sensor_service=sensor_service, config=config)
        self._log = self.sensor_service.get_logger(name=self.__class__.__name__)
        self._server = None
        self._pool = None
        self._poller = None
        self._closed = threading.Event()
        self._sigterm = None  # the SIGTERM handler run() replaced

    def setup(self) -> None:
        try:
            settings = load_settings(self.config)
        except ConfigError as exc:
            self._log.error("poundcake webhook sensor not started: %s", exc)
            raise
        if settings.allow_unauthenticated and not settings.has_credentials:
            self._log.warning(
                "allow_unauthenticated is true: anyone who can reach %s:%d can inject alerts",
                settings.listen_host,
                settings.listen_port,
            )
        metrics = SensorMetrics()
        self._pool = WorkerPool(settings.dispatch_concurrency)
        incidents = IncidentView()
        retention = Retention(settings.unresolved_ttl_seconds, settings.incident_ttl_seconds)
        self._index = IndexWriter(
            StateStore(self.sensor_service), self._log, metrics, retention.longest
        )
        self._recorder = IncidentRecorder(
            StateStore(self.sensor_service),
            self._log,
            settings.unresolved_ttl_seconds,
            settings.incident_ttl_seconds,
            metrics,
            incidents,
            index=self._index,
            hold=settings.record_hold_seconds,
        )
        ingestor = AlertIngestor(
            dispatch=self.sensor_service.dispatch,
            pool=self._pool,
            dedup=DedupCache(settings.dedup_window_seconds, settings.dedup_max_entries),
            metrics=metrics,
            logger=self._log,
            dispatch_groups=settings.dispatch_alert_group,
            timeout=settings.dispatch_timeout_seconds,
            recorder=self._recorder,
            incidents=incidents,
            head_start=settings.remediation_head_start_seconds,
            index=self._index,
            batch_noise=settings.noise_triggers == "per_delivery",
        )
        board = Board(settings.st2_web_url) if settings.board_enabled else None
        try:
            self._server = WebhookServer(settings, ingestor.respond, metrics, self._log, board)
        except OSError as exc:  # ssl.SSLError is one too
            # st2 respawns a crashed sensor only twice: say plainly why it died.
            self._log.error(
                "poundcake webhook sensor not started: cannot serve on %s:%d: %s "
                "(another process on the port? unreadable TLS certificate or key?)",
                settings.listen_host,
                settings.listen_port,
                exc,
            )
            self._pool.close()
            raise
        remediation_metrics = RemediationMetrics(metrics.registry)
        writer = StateStore(self.sensor_service)  # the watchdog's and the keeper's writes
        keeper = None
        if settings.alertmanager_url and settings.escalation_repost_seconds:
            keeper = EscalationKeeper(
                writer,
                _coordination_lock,
                Alertmanager(settings.alertmanager_url),
                settings.escalation_repost_seconds,
                {
                    "resolved": settings.incident_ttl_seconds,
                    "unresolved": settings.unresolved_ttl_seconds,
                },
                remediation_metrics,
                self._log,
            )
        self._poller = StatePoller(
            remediation_metrics,
            StateStore(self.sensor_service),  # its own: its call count is the poll's
            settings.state_poll_seconds,
            self._log,
            incidents,
            board,
            self._recorder,
            self._index,
            Watchdog(
                writer,
                self._st2_api,
                _coordination_lock,
                settings.escalation_action,
                settings.unrouted_after_seconds,
                settings.stuck_after_seconds,
                self._log,
                settings.unresolved_ttl_seconds,
                teller(self.config or {}, self._log, self._st2_api, store=writer),
            ),
            retention,
            FailedMessages(self._st2_api, self._log),
            keeper,
        )

    def _st2_api(self) -> St2Api:
        """st2's API with a token that stays valid: the sensor service's client
        makes a new one before the old expires (the ST2_AUTH_TOKEN st2 starts a
        sensor with lasts service_token_ttl, a day by default)."""
        store = getattr(self.sensor_service, "datastore_service", None)
        if store is not None and hasattr(store, "get_api_client"):
            try:
                client = store.get_api_client()
            except NotImplementedError:  # st2's test datastore service (st2-run-pack-tests)
                return St2Api.from_env()
            return St2Api(client.endpoints["api"], client.token)
        return St2Api.from_env()

    def run(self) -> None:
        # st2 stops a sensor with SIGTERM (then SIGKILL 5 s later): stop serving,
        # then cleanup() drains requests and writes the held records. Under
        # st2's eventlet patching threading cannot tell the main thread, so
        # ask signal itself (it refuses other OS threads).
        try:
            self._sigterm = signal.signal(signal.SIGTERM, lambda *_: self._server.request_stop())
        except ValueError:  # not the main OS thread (a test runs the sensor in one)
            pass
        host, port = self._server.address
        scheme = "https" if self._server.settings.tls_enabled else "http"
        self._log.info(
            "poundcake webhook sensor listening on %s://%s:%d%s (%d dispatch workers on %s)",
            scheme,
            host,
            port,
            self._server.settings.webhook_path,
            self._pool.size,
            self._pool.kind,
        )
        self._recorder.start()
        self._index.start()
        self._poller.start()
        self._server.serve()
        self.cleanup()

    def cleanup(self) -> None:
        if self._server is None or self._closed.is_set():
            return
        self._closed.set()
        deadline = time.monotonic() + SHUTDOWN_GRACE_SECONDS
        self._poller.stop()
        self._recorder.flush()  # writes while the last requests finish
        self._server.close(grace=SHUTDOWN_GRACE_SECONDS)
        self._recorder.stop(deadline)  # its batches, then their index entries
        self._index.stop()  # a write or two: what the last requests dispatched
        self._pool.close()
        if self._sigterm is not None:  # a test process lives on
            try:
                signal.signal(signal.SIGTERM, self._sigterm)
            except ValueError:
                pass
        self._log.info("poundcake webhook sensor stopped")

    # The sensor serves one endpoint for the whole pack; it keeps no
    # per-trigger state, so trigger CRUD events need no action.
    def add_trigger(self, trigger) -> None:
        pass

    def update_trigger(self, trigger) -> None:
        pass

    def remove_trigger(self, trigger) -> None:
        pass

    @property
    def server(self) -> WebhookServer:
        """The running server (tests and the local runner read its address)."""
        return self._server
