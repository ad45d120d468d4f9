"""Turn a validated delivery into dispatched triggers, each alert exactly once.

The HTTP answer is the acknowledgement: 200 only when every alert of the
delivery is in st2 (dispatched now or earlier), otherwise the caller answers
503 and Alertmanager sends again. See :mod:`poundcake.dedup` for why a
re-send dispatches nothing new.

An alert a rule remediates is one ``poundcake.alert`` of its own. The others
go out together, one ``poundcake.alerts_recorded`` per delivery (in parts
within :data:`poundcake.sizes.MAX_DOCUMENT_BYTES`): each st2 dispatch costs
st2 milliseconds, and each trigger instance a turn in its rules engine
ahead of any remediation behind it. Each alert is still claimed, committed
or released on its own, so a re-send carries only what st2 has not taken.
Config ``noise_triggers: per_alert`` dispatches them one
``poundcake.alert_recorded`` each instead.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from poundcake.alertmanager import Delivery, PayloadError, parse_delivery
from poundcake.dedup import Batch, Claim, DedupCache
from poundcake.incident_view import IncidentView
from poundcake.index import IndexWriter
from poundcake.metrics import SensorMetrics
from poundcake.recorder import IncidentRecorder
from poundcake.triggers import (
    BATCH_TRIGGER,
    TriggerInstance,
    alert_fields,
    alert_instance,
    batch_instances,
    group_instance,
    opted_in,
)
from poundcake.webhook_server import error_document
from poundcake.workers import WorkerPool

# How long after its delivery's deadline a dispatch still gets its records.
LATE_SECONDS = 300.0

# sensor_service.dispatch(trigger, payload, trace_tag)
DispatchFunc = Callable[..., Any]


@dataclass
class IngestResult:
    request_id: str
    alerts_received: int
    dispatched: int = 0
    duplicates: int = 0
    failed: int = 0
    group_dispatched: bool = False
    tracking_ids: List[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def as_dict(self) -> Dict[str, Any]:
        return {
            "request_id": self.request_id,
            "alerts_received": self.alerts_received,
            "dispatched": self.dispatched,
            "duplicates": self.duplicates,
            "failed": self.failed,
            "group_dispatched": self.group_dispatched,
            "tracking_ids": self.tracking_ids,
        }


class AlertIngestor:
    def __init__(
        self,
        dispatch: DispatchFunc,
        pool: WorkerPool,
        dedup: DedupCache,
        metrics: SensorMetrics,
        logger: Any,
        dispatch_groups: bool = False,
        timeout: float = 8.0,
        recorder: Optional[IncidentRecorder] = None,
        incidents: Optional[IncidentView] = None,
        head_start: float = 0.0,
        index: Optional[IndexWriter] = None,
        batch_noise: bool = True,
    ) -> None:
        self._dispatch = dispatch
        self._pool = pool
        self._dedup = dedup
        self._metrics = metrics
        self._log = logger
        self._dispatch_groups = dispatch_groups
        self._timeout = timeout
        self._recorder = recorder
        self._view = incidents
        self._head_start = head_start
        self._index = index
        self._batch_noise = batch_noise
        self._first = RemediationsFirst(head_start)
        metrics.watch_dedup(dedup)

    def respond(self, body: bytes, request_id: str) -> Tuple[int, Dict[str, Any]]:
        """The webhook app: a request body in, an HTTP status and JSON answer out."""
        with self._first.arriving() as arrived:
            try:
                doc = json.loads(body)
            except (ValueError, RecursionError) as exc:
                return 400, error_document(request_id, f"malformed JSON: {exc}")
            try:
                delivery = parse_delivery(doc)
            except PayloadError as exc:
                return 422, error_document(request_id, str(exc), path=exc.path)
            for status, count in Counter(a.status for a in delivery.alerts).items():
                self._metrics.child(self._metrics.alerts_received, status).inc(count)
            result = self.ingest(delivery, request_id, arrived)
        self._log.info(
            "request %s from receiver %r: %d alert(s), %d dispatched, %d duplicate(s), "
            "%d failed, %d truncated by Alertmanager",
            request_id,
            delivery.receiver,
            result.alerts_received,
            result.dispatched,
            result.duplicates,
            result.failed,
            delivery.truncated_alerts,
        )
        answer = result.as_dict()
        answer["truncated_alerts"] = delivery.truncated_alerts
        if result.ok:
            return 200, answer
        answer["error"] = (
            f"{result.failed} trigger(s) not dispatched; retry the delivery "
            "(alerts already dispatched will not be dispatched twice)"
        )
        return 503, answer

    def ingest(
        self, delivery: Delivery, request_id: str, arrived: Callable[[], None] = lambda: None
    ) -> IngestResult:
        """Dispatch ``delivery``; ``arrived`` is called once its remediations
        are in st2 (see :class:`RemediationsFirst`)."""
        deadline = time.monotonic() + self._timeout
        received_at = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        fields = [alert_fields(a) for a in delivery.alerts]
        unique: Dict[str, TriggerInstance] = {}
        for f in fields:
            inst = alert_instance(f, delivery, request_id, received_at)
            unique.setdefault(inst.dedup_key, inst)

        result = IngestResult(
            request_id=request_id,
            alerts_received=len(delivery.alerts),
            tracking_ids=list(dict.fromkeys(f["tracking_id"] for f in fields)),
        )
        # Remediations first: the alerts a rule will act on go to st2 before
        # the rest, and get it to themselves for a head start: the rest of
        # this delivery, and of any other delivery meanwhile, waits for it.
        wanted = [i for i in unique.values() if opted_in(i.payload)]
        rest = [i for i in unique.values() if not opted_in(i.payload)]
        sent: List[TriggerInstance] = []

        def late(taken: List[TriggerInstance]) -> None:
            self._took(request_id, taken)

        counts = self._dispatch_all(wanted, deadline, sent, late=late)
        if sent:
            self._first.remediated()
        arrived()
        if rest:
            self._first.wait(min(self._timeout / 4, _remaining(deadline)))
        more = self._dispatch_all(rest, deadline, sent, batched=self._batch_noise, late=late)
        result.dispatched, result.duplicates, result.failed = (a + b for a, b in zip(counts, more))
        # After the whole delivery is in st2: recording never slows a dispatch.
        self._took(request_id, sent)
        if self._dispatch_groups and result.ok:
            group = group_instance(delivery, fields, request_id, received_at)
            g_dispatched, _, g_failed = self._dispatch_all([group], deadline)
            result.group_dispatched = bool(g_dispatched)
            result.failed += g_failed
        return result

    def _took(self, request_id: str, sent: List[TriggerInstance]) -> None:
        """What follows st2 taking a delivery's alerts: the noise's records,
        the view's watch of the opted-in ones, their index rows."""
        now = time.time()
        noise = [inst.payload for inst in sent if not opted_in(inst.payload)]
        if noise and self._recorder is not None:
            self._recorder.submit(noise)
        if self._view is not None:
            for inst in sent:
                if opted_in(inst.payload):
                    self._view.watch(inst.payload, now)
        if self._index is not None:
            self._index.add(request_id, [inst.payload for inst in sent])

    def _dispatch_all(
        self,
        instances: List[TriggerInstance],
        deadline: float,
        sent: Optional[List[TriggerInstance]] = None,
        batched: bool = False,
        late: Optional[Callable[[List[TriggerInstance]], None]] = None,
    ) -> Tuple[int, int, int]:
        """Claim and dispatch ``instances``; return (dispatched, duplicates,
        failed), counted in alerts. ``batched``: the claimed ones go out as
        ``poundcake.alerts_recorded`` instances (one per delivery, in parts)
        instead of one each.

        ``sent`` collects the instances this call dispatched by the deadline;
        ``late`` is handed those that st2 takes after it (the re-send
        Alertmanager makes of them is a duplicate, so it records nothing).
        """
        if not instances:
            return 0, 0, 0
        mine: List[Tuple[TriggerInstance, Claim]] = []
        theirs: List[Tuple[TriggerInstance, Claim]] = []
        duplicates = 0
        batch = Batch()
        claims = self._dedup.claim_many([i.dedup_key for i in instances], batch)
        for inst, (own, other) in zip(instances, claims):
            if own is not None:
                mine.append((inst, own))
            elif other is not None:
                theirs.append((inst, other))
            else:
                duplicates += 1
        units = _units(mine, batched)
        if units:
            self._pool.drain(self._dispatch_one, units)

        dispatched = failed = 0
        for inst, claim in mine:
            if claim.wait(_remaining(deadline)):
                dispatched += 1
                if sent is not None:
                    sent.append(inst)
            else:
                failed += 1
        for _inst, claim in theirs:
            if claim.wait(_remaining(deadline)):
                duplicates += 1
            else:
                failed += 1
        trigger = BATCH_TRIGGER if batched else instances[0].trigger
        if duplicates:
            self._metrics.duplicates.labels(trigger).inc(duplicates)
        pending = [(inst, claim) for inst, claim in mine if not claim.done]
        if pending and late is not None:
            threading.Thread(
                target=_follow, args=(pending, late), name="poundcake-late", daemon=True
            ).start()
        timed_out = sum(1 for _, members in units if not all(c.done for _, c in members))
        if timed_out:
            # Not a failure yet: the dispatch may still succeed (then the
            # re-send is a duplicate) or raise (then it counts as a failure).
            self._metrics.deadline_misses.labels(trigger).inc(timed_out)
            self._log.warning(
                "%d dispatch(es) still running at the %.1fs deadline; answering 503 "
                "so Alertmanager re-sends (the re-send waits for them)",
                timed_out,
                self._timeout,
            )
        return dispatched, duplicates, failed

    def _dispatch_one(self, unit: _Unit) -> None:
        inst, members = unit
        try:
            self._dispatch(trigger=inst.trigger, payload=inst.payload, trace_tag=inst.trace_tag)
        except Exception as exc:  # the broker or st2 may fail in any way
            for member, claim in members:
                self._dedup.release(member.dedup_key, claim)
            self._metrics.dispatch_failures.labels(inst.trigger).inc()
            self._log.error(
                "dispatch of %s (trace tag %s, %d alert(s)) failed: %s: %s",
                inst.trigger,
                inst.trace_tag,
                len(members),
                type(exc).__name__,
                exc,
            )
            return
        for member, claim in members:
            self._dedup.commit(member.dedup_key, claim)
        self._metrics.child(self._metrics.dispatched, inst.trigger).inc()


class RemediationsFirst:
    """Alerts no rule remediates wait for those a rule does, across deliveries.

    Alertmanager sends a storm's groups at once. Noise waits until every
    delivery that came in before it has dispatched its remediations (parsing
    a delivery takes milliseconds), then until ``head_start`` seconds after
    the last remediation dispatched, so st2's rules engine takes the
    remediation before the noise, and the sensor's CPU (st2 validates every
    payload it dispatches) is the remediation's first. ``head_start`` 0: no
    waiting at all.
    """

    def __init__(self, head_start: float) -> None:
        self._head_start = head_start
        self._cond = threading.Condition()
        self._arriving = 0  # deliveries not yet through their remediations
        self._remediated_at = -float("inf")  # time.monotonic() of the last one dispatched

    @contextmanager
    def arriving(self) -> Iterator[Callable[[], None]]:
        """Count a delivery from its first byte parsed; the function given
        marks it through its remediations (else leaving the block does)."""
        done = []

        def arrived() -> None:
            if not done:
                done.append(True)
                with self._cond:
                    self._arriving -= 1
                    self._cond.notify_all()

        with self._cond:
            self._arriving += 1
        try:
            yield arrived
        finally:
            arrived()

    def remediated(self) -> None:
        with self._cond:
            self._remediated_at = time.monotonic()

    def wait(self, most: float) -> None:
        """Hold noise back as the class says, ``most`` seconds at most."""
        if not self._head_start:
            return
        until = time.monotonic() + most
        with self._cond:
            while self._arriving and time.monotonic() < until:
                self._cond.wait(until - time.monotonic())
            left = self._remediated_at + self._head_start - time.monotonic()
        if left > 0:
            time.sleep(min(left, max(0.0, until - time.monotonic())))


# One dispatch: the trigger instance, and the claimed alerts it carries.
_Unit = Tuple[TriggerInstance, List[Tuple[TriggerInstance, Claim]]]


def _units(mine: List[Tuple[TriggerInstance, Claim]], batched: bool) -> List[_Unit]:
    if not batched:
        return [(inst, [(inst, claim)]) for inst, claim in mine]
    claim_of = {id(inst): claim for inst, claim in mine}
    return [
        (batch, [(m, claim_of[id(m)]) for m in members])
        for batch, members in batch_instances([inst for inst, _ in mine])
    ]


def _follow(
    pending: List[Tuple[TriggerInstance, Claim]],
    late: Callable[[List[TriggerInstance]], None],
) -> None:
    """Hand ``late`` the instances of dispatches that end well after their
    delivery's deadline (at most ``LATE_SECONDS`` later)."""
    until = time.monotonic() + LATE_SECONDS
    taken = [inst for inst, claim in pending if claim.wait(_remaining(until))]
    if taken:
        late(taken)


def _remaining(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())
