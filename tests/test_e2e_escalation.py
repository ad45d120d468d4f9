"""What PoundCake puts in a real Alertmanager (Debian's binary): the
PoundCakeEscalation alert, and the silence while it remediates.

process_alert runs in the workflow harness with the pack's real actions;
Alertmanager is real, its one receiver a loopback recorder.
"""

import contextlib
import threading
import time

import pytest
from chat_server import ChatServer
from orquesta import statuses
from orquesta_harness import run_workflow
from pack_actions import ActionHandler, shared_datastore
from processes import AlertmanagerProcess, wait_for
from prometheus_client import CollectorRegistry
from test_envelope import SCOPE, payload, process
from test_lifecycle import process_inputs, record
from test_watchdog import Clock
from test_workflows import Shell

from poundcake.alertmanager_api import ESCALATION, Alertmanager, AlertmanagerError
from poundcake.escalations import EscalationKeeper, book_of, lived_out
from poundcake.state_metrics import RemediationMetrics
from poundcake.state_store import ESCALATION_KEPT, INCIDENT, StateStore, epoch, iso
from poundcake.transitions import END_RETRY_SECONDS, Transitions


@pytest.fixture(scope="module")
def receiver():
    server = ChatServer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def am(receiver):
    proc = AlertmanagerProcess(receiver.url + "/alerts", {})
    yield proc
    proc.close()


def fired(am, doc):
    """Post the alert as Prometheus would; the payload then carries
    Alertmanager's own fingerprint of it, as the webhook would."""
    am.post_alerts([{"labels": doc["labels"], "annotations": {"summary": "down"}}])
    (found,) = wait_for(lambda: am.alerts(case=doc["labels"]["case"]), 10, what="the alert in AM")
    doc["fingerprint"] = found["fingerprint"]
    doc["tracking_id"] = found["fingerprint"] + "-20261123T083600Z"
    return found


def labelled(case, **labels):
    doc = payload(case=case, **labels)
    return doc


def escalations(am, case):
    return am.alerts(alertname=ESCALATION, case=case)


# ------------------------------------------------------- the escalation
def test_a_failed_remediation_pages_through_alertmanager_until_it_resolves(am, receiver):
    doc = labelled("esc-failed")
    config = {"alertmanager_url": am.url}
    datastore = shared_datastore()
    run, _, rec, _ = process(doc, datastore, config, shell=Shell(fail={"act"}))
    assert run.status == statuses.FAILED and rec["state"] == "failed"
    (alert,) = wait_for(lambda: escalations(am, "esc-failed"), 10, what="PoundCakeEscalation")
    labels = alert["labels"]
    assert labels["poundcake_state"] == "failed" and labels["poundcake_alertname"] == "ServiceDown"
    assert labels["instance"] == doc["labels"]["instance"] and "auto_remediate" not in labels
    assert alert["annotations"]["tracking_id"] == doc["tracking_id"]
    assert "restart" in alert["annotations"]["description"]  # what was tried
    # no endsAt from Prometheus's side would end it after resolve_timeout: a far one
    assert epoch(alert["endsAt"][:19] + "Z") - time.time() > 29 * 86400
    paged = wait_for(
        lambda: [
            b
            for b in receiver.bodies("/alerts")
            if b["commonLabels"].get("case") == "esc-failed"
            and b["commonLabels"].get("alertname") == ESCALATION
        ],
        15,
        what="the escalation at the receiver",
    )
    assert paged[0]["status"] == "firing"
    resolve(doc, {**SCOPE, **config}, datastore)
    wait_for(lambda: not escalations(am, "esc-failed"), 10, what="the escalation to end")
    ended = record(datastore, doc["tracking_id"])["notifications"]["escalation"]
    assert ended["ended_at"]


def test_an_incident_escalates_once_and_never_carries_auto_remediate(am):
    doc = labelled("esc-refused")
    datastore = shared_datastore()
    config = {"alertmanager_url": am.url, "allowed_hosts": ["db-*"]}
    _, _, rec, _ = process(doc, datastore, config)
    assert rec["state"] == "refused"
    (alert,) = wait_for(lambda: escalations(am, "esc-refused"), 10, what="PoundCakeEscalation")
    assert alert["labels"]["poundcake_state"] == "refused"
    assert "auto_remediate" not in alert["labels"]
    assert rec["notifications"]["escalation"]["labels"] == alert["labels"]


class Blinking(Alertmanager):
    """The real Alertmanager, unreachable (or refusing: not ``retryable``)
    for the first ``down`` posts."""

    def __init__(self, url, down, retryable=True):
        super().__init__(url)
        self.down, self.posts, self.retryable = down, 0, retryable

    def post_alerts(self, alerts):
        self.posts += 1
        if self.posts <= self.down:
            said = "connection refused" if self.retryable else "HTTP 400 bad alert"
            raise AlertmanagerError(f"POST /api/v2/alerts: {said}", self.retryable)
        super().post_alerts(alerts)


class Log:
    def __init__(self):
        self.lines = []

    def warning(self, *args):
        self.lines.append(args[0] % args[1:])

    error = warning


@pytest.mark.parametrize("down, ended", [(len(END_RETRY_SECONDS), True), (9, False)])
def test_the_escalation_end_is_tried_again_before_it_is_counted(am, down, ended):
    case = f"esc-blink-{down}"
    doc = labelled(case)
    config = {"alertmanager_url": am.url}
    _, _, rec, _ = process(doc, shared_datastore(), config, shell=Shell(fail={"act"}))
    wait_for(lambda: escalations(am, case), 10, what="PoundCakeEscalation")
    blinking, pauses, log = Blinking(am.url, down), [], Log()
    told = Transitions(config, log, alertmanager=blinking, sleep=pauses.append)
    told.tell(rec, [{"state": "resolved", "note": "the alert resolved"}], time.time())
    assert pauses == list(END_RETRY_SECONDS) and blinking.posts == len(pauses) + 1
    escalation = rec["notifications"]["escalation"]
    if ended:  # the blip passed within the retries: ended in Alertmanager too
        assert escalation["ended_at"] and rec["notifications"].get("failures", 0) == 0
        wait_for(lambda: not escalations(am, case), 10, what="the escalation to end")
    else:  # down for good: counted and logged, and it still pages (never ended quietly)
        assert "ended_at" not in escalation and rec["notifications"]["failures"] == 1
        assert escalations(am, case)
        assert any("end of the escalation alert" in line for line in log.lines)


def test_a_refused_end_is_not_tried_again(am):
    doc = labelled("esc-refused-end")
    config = {"alertmanager_url": am.url}
    _, _, rec, _ = process(doc, shared_datastore(), config, shell=Shell(fail={"act"}))
    blinking, pauses = Blinking(am.url, 9, retryable=False), []
    told = Transitions(config, Log(), alertmanager=blinking, sleep=pauses.append)
    told.tell(rec, [{"state": "resolved", "note": "the alert resolved"}], time.time())
    assert pauses == [] and blinking.posts == 1 and rec["notifications"]["failures"] == 1


# ------------------------------------------- kept in Alertmanager by the sensor
class Locks:
    """The incident locks a keeper takes, and whether one is held now."""

    def __init__(self):
        self.taken, self.held = [], False

    @contextlib.contextmanager
    def __call__(self, name):
        self.taken.append(name)
        self.held = True
        try:
            yield
        finally:
            self.held = False


class UnderLock(Alertmanager):
    """The real Alertmanager; every post checks the incident's lock is held,
    and refuses (HTTP 400) the alerts of ``refused`` cases."""

    def __init__(self, url, locks, refused=()):
        super().__init__(url)
        self.locks, self.refused = locks, refused

    def post_alerts(self, alerts):
        assert self.locks.held, "posted outside the incident's lock"
        if any(a["labels"].get("case") in self.refused for a in alerts):
            raise AlertmanagerError("POST /api/v2/alerts: HTTP 400 bad alert", False)
        super().post_alerts(alerts)


def keeper(datastore, url, clock=None, every=300, refused=(), store=None):
    """The sensor's keeper over the actions' datastore, its locks, and a
    reader of its metrics (by name, as /metrics shows them)."""
    registry = CollectorRegistry()
    locks = Locks()
    keep = EscalationKeeper(
        store or StateStore(datastore), locks, UnderLock(url, locks, refused), every,
        {"resolved": 3600, "unresolved": 3600}, RemediationMetrics(registry), Log(),
        clock=clock or Clock(time.time()),
    )  # fmt: skip
    return keep, registry.get_sample_value, locks


def resolve(doc, config, datastore):
    from test_notify import resolve as resolved_by_the_action

    resolved_by_the_action(doc, config, datastore)


def failed_escalated(am, case, datastore=None, url=None):
    """A failed remediation's record, its PoundCakeEscalation posted to ``url``
    (``am``'s by default), named for the sensor."""
    doc = labelled(case)
    datastore = datastore if datastore is not None else shared_datastore()
    config = {"alertmanager_url": url or am.url}
    _, _, rec, _ = process(doc, datastore, config, shell=Shell(fail={"act"}))
    marker = StateStore(datastore).get(ESCALATION_KEPT + doc["tracking_id"])
    assert marker["alert"]["labels"]["poundcake_tracking_id"] == doc["tracking_id"]
    if url is None:
        (alert,) = wait_for(lambda: escalations(am, case), 10, what="PoundCakeEscalation")
        assert alert["labels"]["poundcake_tracking_id"] == doc["tracking_id"]
    return doc, rec, datastore


def kept_name(datastore, doc):
    return StateStore(datastore).get(ESCALATION_KEPT + doc["tracking_id"])


def test_the_sensor_puts_an_open_escalation_back_after_alertmanager_restarts(am):
    doc, _, datastore = failed_escalated(am, "esc-restart")
    (before,) = escalations(am, "esc-restart")
    am.restart()
    assert escalations(am, "esc-restart") == []  # Alertmanager keeps no alerts across one
    keep, metric, locks = keeper(datastore, am.url)
    assert keep.keep() == {"firing": 1, "ended": 0, "dropped": 0, "left": 0}
    (after,) = wait_for(lambda: escalations(am, "esc-restart"), 10, what="the escalation back")
    assert after["labels"] == before["labels"] and after["startsAt"] == before["startsAt"]
    assert after["annotations"] == before["annotations"]
    assert locks.taken == [INCIDENT + doc["tracking_id"]]  # posted under it (UnderLock)
    assert metric("poundcake_escalations_open") == 1
    assert kept_name(datastore, doc)  # kept for the next round


HOSTILE = [  # labels an alert rule's author writes: outside the scope, one machine two names
    ("esc-h-st2-host", {"instance": "localhost:9100", "service": "reboot.target"}),
    ("esc-h-deny-unit", {"instance": "web-1:9100", "service": "sshd"}),
    ("esc-h-name-one", {"instance": "web-1:9100", "service": "nginx.socket"}),
    ("esc-h-name-two", {"instance": "WEB-1:9256", "service": "nginx.socket"}),
]


def test_hostile_labels_are_refused_and_each_refusal_is_kept_in_alertmanager(am):
    datastore = shared_datastore()
    config = {"alertmanager_url": am.url}
    books = {}
    for case, labels in HOSTILE:
        doc = labelled(case, **labels)
        _, shell, rec, _ = process(doc, datastore, config)
        assert rec["state"] == "refused" and shell.commands == [], (case, shell.commands)
        books[case] = rec["notifications"]["escalation"]
        wait_for(lambda c=case: escalations(am, c), 10, what=f"the escalation of {case}")
    am.restart()
    keep, _, _ = keeper(datastore, am.url)
    assert keep.keep() == {"firing": len(HOSTILE), "ended": 0, "dropped": 0, "left": 0}
    for case, book in books.items():
        (back,) = wait_for(lambda c=case: escalations(am, c), 10, what=f"{case} back")
        assert back["labels"] == book["labels"] and back["labels"]["poundcake_state"] == "refused"
    # one machine under two names: two incidents, each its own escalation
    ids = {
        books[c]["labels"]["poundcake_tracking_id"] for c in ("esc-h-name-one", "esc-h-name-two")
    }
    assert len(ids) == 2


def test_a_keeper_never_brings_back_an_escalation_its_resolve_ended(am):
    doc, _, datastore = failed_escalated(am, "esc-ended")
    resolve(doc, {**SCOPE, "alertmanager_url": am.url}, datastore)
    wait_for(lambda: not escalations(am, "esc-ended"), 10, what="the escalation ended")
    keep, _, _ = keeper(datastore, am.url)
    assert keep.keep() == {"firing": 0, "ended": 0, "dropped": 1, "left": 0}
    assert kept_name(datastore, doc) is None
    time.sleep(1)
    assert escalations(am, "esc-ended") == []


def test_the_sensor_posts_and_records_the_end_a_resolve_could_not(am):
    doc, _, datastore = failed_escalated(am, "esc-lost-end")
    resolve(doc, {**SCOPE, "alertmanager_url": "http://127.0.0.1:9"}, datastore)  # unreachable
    rec = record(datastore, doc["tracking_id"])
    assert rec["state"] == "resolved" and rec["notifications"]["failures"] == 1
    assert escalations(am, "esc-lost-end")  # still paging
    clock = Clock(time.time())
    keep, _, _ = keeper(datastore, am.url, clock)
    assert keep.keep() == {"firing": 0, "ended": 1, "dropped": 0, "left": 0}
    wait_for(lambda: not escalations(am, "esc-lost-end"), 10, what="the escalation ended")
    ended = record(datastore, doc["tracking_id"])["notifications"]["escalation"]
    assert ended["ended_at"] and ended["ended_by"] == "the sensor's escalation keeper"
    assert kept_name(datastore, doc) is None
    clock.now += 301
    assert keep.keep() == {"firing": 0, "ended": 0, "dropped": 0, "left": 0}


def test_the_sensor_posts_an_escalation_whose_first_post_failed(am):
    doc, rec, datastore = failed_escalated(am, "esc-first-lost", url="http://127.0.0.1:9")
    assert "escalation" not in rec["notifications"] and rec["notifications"]["failures"] == 1
    keep, _, _ = keeper(datastore, am.url)
    assert keep.keep() == {"firing": 1, "ended": 0, "dropped": 0, "left": 0}
    (alert,) = wait_for(lambda: escalations(am, "esc-first-lost"), 10, what="the escalation")
    assert alert["labels"]["poundcake_state"] == "failed"
    book = record(datastore, doc["tracking_id"])["notifications"]["escalation"]
    assert book["posted_by"] == "the sensor's escalation keeper"
    assert book["labels"] == alert["labels"]
    resolve(doc, {**SCOPE, "alertmanager_url": am.url}, datastore)  # the resolve ends it now
    wait_for(lambda: not escalations(am, "esc-first-lost"), 10, what="the escalation ended")


def test_a_round_every_repost_seconds_and_alertmanager_down_counted_not_raised(am):
    doc, _, datastore = failed_escalated(am, "esc-rounds")
    clock = Clock(time.time())
    keep, metric, _ = keeper(datastore, "http://127.0.0.1:9", clock, every=60)
    assert keep.keep() == {"firing": 0, "ended": 0, "dropped": 0, "left": 0}  # its post failed
    assert metric("poundcake_notifications_failed_total") == 1
    assert keep.keep() == {}  # not due
    clock.now += 61
    keep.keep()
    assert metric("poundcake_notifications_failed_total") == 2  # once a round
    assert kept_name(datastore, doc)  # kept for the next


def test_one_refused_escalation_never_blocks_the_others(am):
    datastore = shared_datastore()
    refused, _, _ = failed_escalated(am, "esc-refused-one", datastore)
    taken, _, _ = failed_escalated(am, "esc-taken-one", datastore)
    am.restart()
    keep, metric, _ = keeper(datastore, am.url, refused=("esc-refused-one",))
    assert keep.keep()["firing"] == 1
    wait_for(lambda: escalations(am, "esc-taken-one"), 10, what="the other escalation back")
    assert metric("poundcake_notifications_failed_total") == 1
    assert kept_name(datastore, refused) and kept_name(datastore, taken)


def test_an_unreadable_record_leaves_the_name_to_its_ttl(am):
    doc, _, datastore = failed_escalated(am, "esc-unread")
    store = StateStore(datastore)
    store.get = lambda key: None if key.startswith(INCIDENT) else StateStore.get(store, key)
    keep, _, _ = keeper(datastore, am.url, store=store)
    assert keep.keep() == {"firing": 0, "ended": 0, "dropped": 0, "left": 1}
    assert kept_name(datastore, doc)


def test_what_a_record_says_of_its_escalation():
    now = time.time()
    book = {"labels": {"a": "b"}, "annotations": {}, "starts_at": iso(now - 60)}
    book["ends_at"] = iso(now + 3600)
    assert book_of({"notifications": {"escalation": book}}) is book
    assert not lived_out(book, now) and lived_out(book, now + 7200)
    assert lived_out({"labels": {}}, now)  # not an escalation this version wrote
    for broken in (None, {}, {"notifications": "x"}, {"notifications": {"escalation": "x"}}):
        assert book_of(broken) is None


# ------------------------------------------------------------ the silence
def follow(doc, config, datastore, shell=None, dry_run=False):
    """process_alert waiting up to 20 s for the alert to clear."""
    handler = ActionHandler({**SCOPE, **config}, shell or Shell(), datastore)
    inputs = {**process_inputs(doc), "clear_timeout": 20, "dry_run": dry_run}
    return run_workflow("process_alert.yaml", inputs, handler)


def test_the_silence_holds_while_remediating_and_ends_when_alertmanager_resolves(am):
    doc = labelled("silence-fixed")
    fired(am, doc)
    datastore = shared_datastore()
    config = {"alertmanager_url": am.url, "silence_while_remediating": True}
    seen = {}

    def resolve_once_silenced():
        def silenced():
            held = (record(datastore, doc["tracking_id"]) or {}).get("silence")
            return (
                held
                if held and am.alerts(case="silence-fixed")[0]["status"]["silencedBy"]
                else None
            )

        seen["silence"] = wait_for(silenced, 15, what="the silence")
        seen["status"] = am.alerts(case="silence-fixed")[0]["status"]
        am.post_alerts([{"labels": doc["labels"], "endsAt": "2020-01-01T00:00:00Z"}])

    resolver = threading.Thread(target=resolve_once_silenced)
    resolver.start()
    run = follow(doc, config, datastore)
    resolver.join()
    assert run.status == statuses.SUCCEEDED
    assert seen["status"]["state"] == "suppressed"
    assert seen["status"]["silencedBy"] == [seen["silence"]["id"]]
    rec = record(datastore, doc["tracking_id"])
    assert rec["state"] == "resolved" and rec["reason"].startswith("resolved in Alertmanager")
    silence = am.silence(rec["silence"]["id"])
    assert silence["status"]["state"] == "expired"
    assert {(m["name"], m["value"]) for m in silence["matchers"]} == set(doc["labels"].items())
    created, bound = (epoch(rec["silence"][k]) for k in ("created_at", "ends_at"))
    assert bound - created == 900  # silence_max_seconds: it ends by itself if PoundCake dies
    assert epoch(silence["endsAt"][:19] + "Z") < bound  # expired early, when the alert resolved
    assert rec["silence"]["expired_because"] == "the incident is resolved"


def test_a_failed_remediation_expires_the_silence_at_once(am):
    doc = labelled("silence-failed")
    fired(am, doc)
    datastore = shared_datastore()
    config = {"alertmanager_url": am.url, "silence_while_remediating": True}
    run = follow(doc, config, datastore, Shell(fail={"act"}))
    assert run.status == statuses.FAILED
    rec = record(datastore, doc["tracking_id"])
    assert rec["silence"]["expired_because"] == "the incident is failed"
    assert am.silence(rec["silence"]["id"])["status"]["state"] == "expired"
    assert am.alerts(case="silence-failed")[0]["status"]["silencedBy"] == []


def test_a_dry_run_silences_nothing(am):
    doc = labelled("silence-dry")
    fired(am, doc)
    datastore = shared_datastore()
    config = {"alertmanager_url": am.url, "silence_while_remediating": True}
    run = follow(doc, config, datastore, dry_run=True)
    assert run.status == statuses.SUCCEEDED
    assert "silence" not in record(datastore, doc["tracking_id"])


def test_a_silence_without_alertmanager_url_is_counted_and_nothing_else(am):
    doc = labelled("silence-nowhere")
    datastore = shared_datastore()
    run, _, rec, _ = process(doc, datastore, {"silence_while_remediating": True})
    assert run.status == statuses.SUCCEEDED and rec["state"] == "remediated"
    (error,) = rec["notifications"]["errors"]
    assert error["error"] == "silence_while_remediating needs alertmanager_url"


def test_expiring_a_silence_twice_is_done_not_a_failure(am):
    """Alertmanager refuses to expire an expired silence; PoundCake's second
    expiry (a retry, a bound already passed) must not count for ever."""
    from poundcake.alertmanager_api import Alertmanager, silence_for
    from poundcake.state_store import iso

    api = Alertmanager(am.url)
    now = time.time()
    record = {"tracking_id": "t-twice", "labels": {"alertname": "Twice", "case": "twice"}}
    silence_id = api.create_silence(silence_for(record, iso(now), iso(now + 600)))
    api.expire_silence(silence_id)
    api.expire_silence(silence_id)
    assert am.silence(silence_id)["status"]["state"] == "expired"


def test_a_record_st2_refuses_to_store_leaves_no_silence_behind(am):
    """The silence's id lives in the record: a write that fails would leave
    the alert muted to its bound, with nothing to expire it."""
    from unittest import mock

    from poundcake.transitions import Transitions

    doc = labelled("silence-unstored")
    found = fired(am, doc)
    record = {
        "tracking_id": doc["tracking_id"],
        "fingerprint": found["fingerprint"],
        "labels": found["labels"],
        "remediation": {"workflow": "poundcake.remediate_service_down"},
    }
    told = Transitions({"alertmanager_url": am.url, "silence_while_remediating": True}, mock.Mock())
    now = time.time()
    told.tell(record, [{"state": "remediating", "note": "restart"}], now)
    silence_id = record["silence"]["id"]
    assert am.silence(silence_id)["status"]["state"] == "active"
    refusing = mock.Mock(put=mock.Mock(side_effect=ConnectionError("st2api down")))
    with pytest.raises(ConnectionError):
        told.store(refusing, "poundcake.incident.x", record, 0, now)
    assert am.silence(silence_id)["status"]["state"] == "expired"
