"""What PoundCake puts in a real Alertmanager (Debian's binary): the
PoundCakeEscalation alert, and the silence while it remediates.

process_alert runs in the workflow harness with the pack's real actions;
Alertmanager is real, its one receiver a loopback recorder.
"""

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
from test_workflows import Shell

from poundcake.alertmanager_api import ESCALATION, Alertmanager, AlertmanagerError
from poundcake.escalations import EscalationKeeper, kept
from poundcake.state_metrics import RemediationMetrics
from poundcake.state_store import epoch, iso
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
    from test_notify import resolve

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
    """The real Alertmanager, unreachable for the first ``down`` posts."""

    def __init__(self, url, down):
        super().__init__(url)
        self.down, self.posts = down, 0

    def post_alerts(self, alerts):
        self.posts += 1
        if self.posts <= self.down:
            raise AlertmanagerError("POST /api/v2/alerts: connection refused")
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


# ------------------------------------------- kept in Alertmanager by the sensor
class Clock:
    def __init__(self):
        self.now = time.time()

    def __call__(self):
        return self.now


def keeper(clock=None, every=300):
    """A keeper, and a reader of its metrics (by name, as /metrics shows them)."""
    registry = CollectorRegistry()
    metrics = RemediationMetrics(registry)
    keep = EscalationKeeper(every, metrics, Log(), clock=clock or Clock())
    return keep, registry.get_sample_value


def failed_escalated(am, case, datastore=None):
    """A failed remediation's record, its PoundCakeEscalation in ``am``."""
    doc = labelled(case)
    datastore = datastore if datastore is not None else shared_datastore()
    config = {"alertmanager_url": am.url}
    _, _, rec, _ = process(doc, datastore, config, shell=Shell(fail={"act"}))
    (alert,) = wait_for(lambda: escalations(am, case), 10, what="PoundCakeEscalation")
    assert rec["notifications"]["escalation"]["alertmanager_url"] == am.url
    return doc, rec, alert, datastore


def test_the_sensor_puts_an_open_escalation_back_after_alertmanager_restarts(am):
    _, rec, before, _ = failed_escalated(am, "esc-restart")
    am.restart()
    assert escalations(am, "esc-restart") == []  # Alertmanager keeps no alerts across one
    keep, metrics = keeper()
    assert keep.keep([rec]) == 1
    (after,) = wait_for(lambda: escalations(am, "esc-restart"), 10, what="the escalation back")
    assert after["labels"] == before["labels"] and after["startsAt"] == before["startsAt"]
    assert after["annotations"] == before["annotations"]
    assert metrics("poundcake_escalations_open") == 1


def test_the_sensor_posts_the_end_a_resolve_could_not(am):
    doc, rec, _, datastore = failed_escalated(am, "esc-lost-end")
    down = Transitions({"alertmanager_url": am.url}, Log(), alertmanager=Blinking(am.url, 9),
                       sleep=lambda s: None)  # fmt: skip
    down.tell(rec, [{"state": "resolved", "note": "the alert resolved"}], time.time())
    rec["state"] = "resolved"  # as the resolve stored it, its end never posted
    assert escalations(am, "esc-lost-end")
    clock = Clock()
    keep, metrics = keeper(clock)
    assert keep.keep([rec]) == 1
    wait_for(lambda: not escalations(am, "esc-lost-end"), 10, what="the escalation ended")
    assert metrics("poundcake_escalations_open") == 0
    clock.now += 301
    assert keep.keep([rec]) == 0  # its end went: not posted again this run


def test_a_round_every_repost_seconds_and_a_failure_counted_not_raised(am):
    _, rec, _, _ = failed_escalated(am, "esc-rounds")
    clock = Clock()
    keep, metrics = keeper(clock, every=60)
    assert keep.keep([rec]) == 1
    assert keep.keep([rec]) == 0  # not due
    clock.now += 61
    assert keep.keep([rec]) == 1
    rec["notifications"]["escalation"]["alertmanager_url"] = "http://127.0.0.1:9"
    clock.now += 61
    assert keep.keep([rec]) == 0
    assert metrics("poundcake_notifications_failed_total") == 1


def test_only_an_open_escalation_is_kept():
    now = time.time()
    book = {"labels": {"a": "b"}, "annotations": {}, "starts_at": iso(now - 60)}
    book.update(ends_at=iso(now + 3600), alertmanager_url="http://am:9093")
    doc = {"tracking_id": "t", "state": "failed", "notifications": {"escalation": book}}
    assert kept(doc, "", now) == ("http://am:9093", {
        "labels": {"a": "b"}, "annotations": {}, "startsAt": book["starts_at"],
        "endsAt": book["ends_at"],
    })  # fmt: skip
    assert kept({**doc, "state": "resolved"}, "", now)[1]["endsAt"] == iso(now)
    assert kept(doc, "", now + 7200) is None  # lived out
    ended = {**book, "ended_at": iso(now)}
    assert kept({**doc, "notifications": {"escalation": ended}}, "", now) is None
    older = {k: v for k, v in book.items() if k != "alertmanager_url"}  # from before the URL
    assert kept({**doc, "notifications": {"escalation": older}}, "", now) is None
    assert kept({**doc, "notifications": {"escalation": older}}, "http://x", now)[0] == "http://x"
    assert kept({"tracking_id": "t", "state": "failed"}, "http://x", now) is None


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
