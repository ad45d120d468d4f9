"""Telling people, on real st2 with the real Alertmanager: a message per
transition in one thread per incident, PoundCakeEscalation paging a human,
and the silence while PoundCake works.

The chat service is a loopback server answering as Slack's
chat.postMessage does, reached by st2's own core.http; the human is a
loopback webhook receiver of a second Alertmanager routed as the README's
examples/alertmanager/silence-routing.yml (with shorter waits).
"""

from __future__ import annotations

import os
import time
from typing import Any, Dict, List

import pytest
import yaml
from chat_server import ChatServer, chat_notifier
from conftest import FIGURES, PACK_DIR, WEBHOOK_URL, Alerting, restart_sensor
from processes import AlertmanagerProcess
from st2 import DONE, wait_until
from story import new_case, parse_time
from test_envelope import forget_rates
from test_records import metric

# The routing's waits, shortened: the people's route waits HUMAN_WAIT before
# its first page, and GROUP_INTERVAL between pages.
HUMAN_WAIT, GROUP_INTERVAL = 15, 2


@pytest.fixture
def chat():
    server = ChatServer()
    yield server
    server.close()


TRANSITIONS = ["remediating", "remediated", "failed", "not_cleared", "resolved"]
TEXT = "${tracking_id} ${alertname} on ${host}: ${state} (${reason})"


def mine(server: ChatServer, tracking_id: str) -> List[Dict[str, Any]]:
    return [r for r in server.requests if tracking_id in str((r["body"] or {}).get("text", ""))]


def executions_of(st2, tracking_id: str, ref: str) -> List[Dict[str, Any]]:
    """Every execution of ``ref`` in the incident's traces (each notification
    starts a trace tagged with the tracking id, as note_approval's expiry does)."""
    traces = st2.get("traces", trace_tag=tracking_id, limit=100)
    ids = {c["object_id"] for t in traces for c in t.get("action_executions", [])}
    found = [st2.execution(i) for i in sorted(ids)]
    return [e for e in found if e["action"]["ref"] == ref]


def finished(st2, tracking_id: str, count: int):
    """``(poundcake.notify executions, core.http executions)`` once ``count`` of each ended."""
    notify = executions_of(st2, tracking_id, "poundcake.notify")
    http = executions_of(st2, tracking_id, "core.http")
    ended = [e for e in notify + http if e["status"] in DONE]
    return (notify, http) if len(notify) == len(http) == count == len(ended) // 2 else None


def seconds(execution: Dict[str, Any]) -> float:
    return parse_time(execution["end_timestamp"]) - parse_time(execution["start_timestamp"])


# ------------------------------------------------------ one thread per incident
def test_notify_one_thread_per_incident_through_core_http(alerting, target, configure, st2, chat):
    configure(notifiers=[chat_notifier(chat.url, TRANSITIONS, TEXT)])
    target.unit("svc-notify", "failed")
    alert = alerting.fire("ServiceDown", service="svc-notify", auto_remediate="true")
    story = alerting.story(alert)
    assert story.execution()["status"] == "succeeded"
    alerting.resolve(alert)
    wait_until(lambda: story.record()["state"] == "resolved", 60, "the resolve")
    sent = wait_until(
        lambda: len(mine(chat, story.tracking_id)) >= 3 and mine(chat, story.tracking_id),
        90,
        "three messages at the chat service",
    )
    bodies = [r["body"] for r in sent]
    states = [b["text"].split(": ")[1].split(" ")[0] for b in bodies]
    assert states == ["remediating", "remediated", "resolved"]
    assert "thread_ts" not in bodies[0]
    assert [b["thread_ts"] for b in bodies[1:]] == [sent[0]["ts"]] * 2  # one thread
    record = wait_until(
        lambda: (r := story.record()) and r["notifications"]["threads"] and r,
        30,
        "the thread kept in the record",
    )
    assert record["notifications"]["threads"] == {"chat": sent[0]["ts"]}
    assert record["notifications"]["failures"] == 0
    # what it cost st2: per transition one poundcake.notify and one core.http
    notify, http = wait_until(
        lambda: finished(st2, story.tracking_id, 3), 60, "three notifications to finish"
    )
    assert {e["status"] for e in notify + http} == {"succeeded"}
    # they joined the traces of what they tell of (the firing's, the resolve's)
    assert len(st2.get("traces", trace_tag=story.tracking_id, limit=100)) == 2
    told = {t["transition"]: t["at"] for t in record["notifications"]["told"]}
    delays = [
        r["at"] - parse_time(told[s]) for r, s in zip(sent, states)
    ]  # the transition written -> the message at the chat service
    FIGURES.append(
        "notify: 2 executions per transition (poundcake.notify + core.http); "
        f"poundcake.notify {min(map(seconds, notify)):.1f}-{max(map(seconds, notify)):.1f} s, "
        f"core.http {min(map(seconds, http)):.1f}-{max(map(seconds, http)):.1f} s; "
        f"transition -> message {min(delays):.1f}-{max(delays):.1f} s"
    )
    assert target.unit_state("svc-notify") == "active"


def test_notify_failing_never_changes_the_remediation(alerting, target, configure, st2):
    broken = chat_notifier("http://127.0.0.1:9", TRANSITIONS, TEXT)  # nothing listens there
    undeclared = {**broken, "name": "undeclared"}
    # never empty (an empty value is left out): core.http declares no thread_ts
    undeclared["parameters"] = {**undeclared["parameters"], "thread_ts": "${tracking_id}"}
    configure(notifiers=[broken, undeclared])
    counted = metric("poundcake_notifications_failed_total")
    target.unit("svc-notify-broken", "failed")
    alert = alerting.fire("ServiceDown", service="svc-notify-broken", auto_remediate="true")
    story = alerting.story(alert)
    assert story.execution()["status"] == "succeeded"
    record = wait_until(
        lambda: (r := story.record())["notifications"]["failures"] >= 4 and r,
        120,
        "four notifications to fail (two notifiers, two transitions)",
    )
    assert record["state"] == "remediated" and record["remediation"]["outcome"] == "succeeded"
    errors = [e["error"] for e in record["notifications"]["errors"]]
    assert len(errors) == 4, record["notifications"]
    assert any("core.http declares no parameter thread_ts" in e for e in errors), errors
    assert any("core.http execution" in e and "failed" in e for e in errors), errors
    http = executions_of(st2, story.tracking_id, "core.http")
    assert len(http) == 2, "the undeclared parameter was never sent to st2"
    assert target.unit_state("svc-notify-broken") == "active"
    # the sensor's /metrics counts them, from st2's failed poundcake.notify executions
    wait_until(
        lambda: metric("poundcake_notifications_failed_total") >= counted + 4,
        30,
        "poundcake_notifications_failed_total to count the four failed messages",
    )


# ------------------------------------------------- Alertmanager with people
@pytest.fixture
def people():
    server = ChatServer()
    yield server
    server.close()


def routed(pack_token: str, human_url: str) -> Dict[str, Any]:
    """The README's routing (examples/alertmanager/silence-routing.yml) with
    the suite's sensor and human, its waits shortened and grouped by case."""
    with open(os.path.join(PACK_DIR, "examples", "alertmanager", "silence-routing.yml")) as fp:
        config = yaml.safe_load(fp)
    config["route"]["group_by"] = ["alertname", "instance", "case"]
    pack_route, human_route = config["route"]["routes"]
    pack_route.update(group_wait="1s", group_interval="1s")
    human_route.update(group_wait=f"{HUMAN_WAIT}s", group_interval=f"{GROUP_INTERVAL}s")
    pack, human = config["receivers"]
    pack["webhook_configs"][0].update(url=WEBHOOK_URL)
    pack["webhook_configs"][0]["http_config"]["authorization"]["credentials"] = pack_token
    human["webhook_configs"][0]["url"] = human_url + "/alerts"
    return config


@pytest.fixture
def with_people(st2, target, pack, people):
    am = AlertmanagerProcess(WEBHOOK_URL, {}, config=routed(pack["token"], people.url))
    yield Alerting(st2, am, target), am
    am.close()


def paged(people: ChatServer, **labels: str) -> List[Dict[str, Any]]:
    """What the human was sent: the alerts of each notification carrying ``labels``."""
    out = []
    for body in people.bodies("/alerts"):
        for a in body.get("alerts", []):
            if all(a["labels"].get(k) == v for k, v in labels.items()):
                out.append({**a, "sent_status": body["status"]})
    return out


def page_at(people: ChatServer, alertname: str, case: str) -> None:
    """Wait for the human's receiver to be told ``alertname`` of ``case`` is firing."""
    page = wait_until(
        lambda: paged(people, alertname=alertname, case=case),
        HUMAN_WAIT + 30,
        f"{alertname} of {case} at the human's receiver",
    )
    assert page[0]["sent_status"] == "firing"


def test_escalation_through_alertmanager_pages_a_human_until_it_resolves(
    with_people, target, configure, people
):
    alerting, am = with_people
    configure(alertmanager_url=am.url)
    target.unit("svc-escalate", "failed", restart="fail")
    alert = alerting.fire("ServiceDown", service="svc-escalate", auto_remediate="true")
    story = alerting.story(alert)
    assert story.execution()["status"] == "failed"
    failed_at = time.time()
    (escalation,) = wait_until(
        lambda: am.alerts(alertname="PoundCakeEscalation", case=alert.case),
        30,
        "PoundCakeEscalation in Alertmanager",
    )
    labels = escalation["labels"]
    assert labels["poundcake_state"] == "failed" and labels["service"] == "svc-escalate"
    assert labels["poundcake_alertname"] == "ServiceDown" and "auto_remediate" not in labels
    assert "restart of svc-escalate.service" in escalation["annotations"]["description"]
    assert escalation["annotations"]["tracking_id"] == story.tracking_id
    page_at(people, "PoundCakeEscalation", alert.case)
    FIGURES.append(
        f"escalation: failed -> the human paged {time.time() - failed_at:.1f} s "
        f"(its group_wait {HUMAN_WAIT} s)"
    )
    alerting.resolve(alert)
    wait_until(
        lambda: not am.alerts(alertname="PoundCakeEscalation", case=alert.case),
        60,
        "the escalation to end with the incident's resolve",
    )
    wait_until(
        lambda: any(
            p["sent_status"] == "resolved"
            for p in paged(people, alertname="PoundCakeEscalation", case=alert.case)
        ),
        30,
        "the human told it resolved",
    )


def test_escalation_kept_by_the_sensor_across_an_alertmanager_restart(
    with_people, target, configure, people
):
    """Alertmanager forgets its alerts when it restarts; the sensor re-posts
    the open escalation (escalation_repost_seconds, 10 s here), and the human
    it already paged is not paged again."""
    alerting, am = with_people
    configure(alertmanager_url=am.url)
    restart_sensor()  # the sensor reads alertmanager_url at its start
    try:
        target.unit("svc-esc-restart", "failed", restart="fail")
        alert = alerting.fire("ServiceDown", service="svc-esc-restart", auto_remediate="true")
        story = alerting.story(alert)
        assert story.execution()["status"] == "failed"

        def escalation():
            return am.alerts(alertname="PoundCakeEscalation", case=alert.case)

        def pages():
            found = paged(people, alertname="PoundCakeEscalation", case=alert.case)
            return [p for p in found if p["sent_status"] == "firing"]

        (before,) = wait_until(escalation, 30, "PoundCakeEscalation in Alertmanager")
        assert before["labels"]["poundcake_tracking_id"] == story.tracking_id
        page_at(people, "PoundCakeEscalation", alert.case)
        am.restart()
        restarted = time.time()
        am.post_alerts([alert.body()])  # Prometheus re-sends what still fires
        (after,) = wait_until(escalation, 40, "the sensor to re-post the escalation")
        back = time.time() - restarted
        assert after["labels"] == before["labels"] and after["startsAt"] == before["startsAt"]
        assert metric("poundcake_escalations_open") >= 1
        time.sleep(HUMAN_WAIT + 2 * GROUP_INTERVAL + 3)  # the human route's next flush
        assert len(pages()) == 1, "the re-post paged the human again"
        FIGURES.append(
            f"escalation: back in a restarted Alertmanager {back:.1f} s after its restart "
            "(escalation_repost_seconds 10); the human paged once"
        )
        alerting.resolve(alert)
        wait_until(lambda: story.record()["state"] == "resolved", 60, "the resolve")
        wait_until(lambda: not escalation(), 60, "the escalation to end with the resolve")
    finally:
        configure()
        restart_sensor()


def test_escalation_of_a_rate_limited_incident(with_people, target, configure, st2):
    alerting, am = with_people
    alertname = "RateEscalation" + new_case("r").split("-")[1]
    forget_rates(st2)  # the workflow's window holds earlier tests' remediations
    configure(alertmanager_url=am.url, rate_limit_remediations=1)
    target.unit("svc-rate-esc", "failed")
    fired = []
    for n in range(2):
        fired.append(
            alerting.fire(
                alertname,
                annotations={"automation_runbook": "service_unavailable"},
                service="svc-rate-esc",
                n=str(n),
                auto_remediate="true",
            )
        )
        alerting.story(fired[-1]).execution()
    (escalation,) = wait_until(
        lambda: am.alerts(alertname="PoundCakeEscalation", case=fired[1].case),
        30,
        "PoundCakeEscalation of the rate-limited incident",
    )
    assert escalation["labels"]["poundcake_state"] == "rate_limited"
    assert am.alerts(alertname="PoundCakeEscalation", case=fired[0].case) == []


# ------------------------------------------------------------- the silence
def test_silence_while_remediating_keeps_a_fixed_alert_from_the_human(
    with_people, target, configure, people
):
    alerting, am = with_people
    configure(alertmanager_url=am.url, silence_while_remediating=True, clear_timeout_seconds=90)
    target.unit("svc-silence-ok", "failed")
    alert = alerting.fire("ServiceDown", service="svc-silence-ok", auto_remediate="true")
    story = alerting.story(alert)
    record = wait_until(lambda: (r := story.record()) and r.get("silence") and r, 60, "the silence")
    silenced_after = parse_time(record["silence"]["created_at"]) - alert.posted_at
    assert silenced_after < HUMAN_WAIT, "silenced before the human's group_wait"
    (held,) = am.alerts(case=alert.case)
    assert held["status"]["silencedBy"] == [record["silence"]["id"]]
    wait_until(lambda: story.record()["state"] == "remediated", 90, "the remediation")
    assert target.unit_state("svc-silence-ok") == "active"
    alerting.resolve(alert)  # the condition is gone; the webhook's resolve is silenced too
    record = wait_until(
        lambda: (r := story.record())["state"] == "resolved" and r, 60, "await_clear to see it"
    )
    assert record["reason"].startswith("resolved in Alertmanager")
    assert am.silence(record["silence"]["id"])["status"]["state"] == "expired"
    assert story.execution(timeout=60)["status"] == "succeeded"
    time.sleep(HUMAN_WAIT + 3 * GROUP_INTERVAL)  # every chance to page
    assert paged(people, case=alert.case) == [], "the human was told of an alert PoundCake fixed"
    FIGURES.append(
        f"silence: the alert silenced {silenced_after:.1f} s after its post to Alertmanager "
        f"(the human's group_wait here {HUMAN_WAIT} s, the README's 1 min)"
    )


def test_silence_while_remediating_pages_the_human_when_the_remediation_fails(
    with_people, target, configure, people
):
    alerting, am = with_people
    configure(alertmanager_url=am.url, silence_while_remediating=True, clear_timeout_seconds=90)
    target.unit("svc-silence-fail", "failed", restart="fail")
    alert = alerting.fire("ServiceDown", service="svc-silence-fail", auto_remediate="true")
    story = alerting.story(alert)
    assert story.execution()["status"] == "failed"
    record = story.record()
    assert record["state"] == "failed"
    assert record["silence"]["expired_because"] == "the incident is failed"
    assert am.silence(record["silence"]["id"])["status"]["state"] == "expired"
    expired = parse_time(record["silence"]["expired_at"])
    page_at(people, "ServiceDown", alert.case)
    FIGURES.append(
        f"silence: a failed remediation's alert paged {time.time() - expired:.1f} s after the "
        f"silence expired (its group_interval {GROUP_INTERVAL} s)"
    )
