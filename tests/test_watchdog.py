"""Nothing sticks: unrouted alerts get a record, stuck remediations are closed."""

from unittest import mock

import pytest
from pack_actions import shared_datastore
from prometheus_client import CollectorRegistry
from test_lifecycle import alert, null_lock

from poundcake.incident_view import IncidentView
from poundcake.incidents import apply, decide, observe
from poundcake.state_metrics import RemediationMetrics, StatePoller
from poundcake.state_store import INCIDENT, StateStore, iso
from poundcake.transitions import teller
from poundcake.watchdog import Watchdog, stuck_reason, unrouted_reason


class Clock:
    def __init__(self, now=1_800_000_000.0):
        self.now = now

    def __call__(self):
        return self.now


class FakeApi:
    """st2's API as the watchdog uses it: traces, one execution, run_later."""

    def __init__(self, traces=(), execution=None):
        self.traces = list(traces)
        self.execution = execution
        self.started = []

    def checked(self, method, path, body=None):
        assert method == "GET" and path.startswith("/traces?trace_tag=")
        return self.traces

    def call(self, method, path, body=None):
        response = mock.Mock()
        response.status_code = 404 if self.execution is None else 200
        response.json.return_value = self.execution
        return response

    def run_later(self, action, parameters, delay, trace_tag, trace=None):
        self.started.append((action, parameters, trace_tag))
        return "exec-escalation"

    def own_trace(self):
        return None  # the sensor runs in no execution


def test_an_alert_no_process_alert_ran_for_is_unrouted():
    assert unrouted_reason(None, "MyAppDown") == "no remediation: no rule handles MyAppDown"
    trace = {"action_executions": [{"ref": "mypack.other"}]}
    assert unrouted_reason(trace, "MyAppDown")
    trace = {"action_executions": [{"ref": "poundcake.process_alert"}]}
    assert unrouted_reason(trace, "MyAppDown") is None


def remediating(now, started_ago=10):
    rec = observe(None, alert(), now - started_ago)
    apply(rec, decide(rec, True, [], False, now - started_ago), "exec-1", now - started_ago)
    return rec


@pytest.mark.parametrize(
    "execution, words",
    [
        (None, "is gone from st2"),
        ({"status": "failed", "end_timestamp": iso(1_800_000_000.0 - 120)}, "ended failed"),
        ({"status": "abandoned", "end_timestamp": iso(1_800_000_000.0 - 120)}, "ended abandoned"),
    ],
)
def test_a_remediating_record_whose_process_alert_ended_is_stuck(execution, words):
    assert words in stuck_reason(remediating(1_800_000_000.0), execution, 1_800_000_000.0, 3600)


def test_a_remediation_running_past_its_bound_is_stuck_and_a_fresh_one_is_not():
    now = 1_800_000_000.0
    running = {"status": "running"}
    assert stuck_reason(remediating(now, 10), running, now, 3600) is None
    just_ended = {"status": "failed", "end_timestamp": iso(now - 5)}
    assert stuck_reason(remediating(now, 10), just_ended, now, 3600) is None  # its write may come
    assert "longer than any remediation" in stuck_reason(remediating(now, 4000), running, now, 3600)


def poller(store, api, view, config=None):
    tell = teller(config or {}, mock.Mock(), lambda: api, store.clock)
    dog = Watchdog(
        store,
        lambda: api,
        null_lock,
        "poundcake.log_escalation",
        120,
        3600,
        mock.Mock(),
        tell=tell,
    )
    registry = CollectorRegistry()
    poll = StatePoller(RemediationMetrics(registry), store, 1, mock.Mock(), view, watchdog=dog)
    poll.poll_once()  # the seed
    return poll, registry


def test_the_poll_records_an_unrouted_alert_once_its_wait_is_over():
    clock = Clock()
    store = StateStore(shared_datastore(), clock)
    view = IncidentView()
    payload = dict(alert(), alertname="MyAppDown")
    poll, registry = poller(store, FakeApi(), view)
    view.watch(payload, now=clock.now)
    poll.poll_once()
    assert store.get(INCIDENT + payload["tracking_id"]) is None  # not yet: st2 may be busy
    clock.now += 121
    poll.poll_once()
    rec = store.get(INCIDENT + payload["tracking_id"])
    assert (
        rec["state"] == "unrouted" and rec["reason"] == "no remediation: no rule handles MyAppDown"
    )
    assert registry.get_sample_value("poundcake_unrouted_incidents_total") == 1
    assert [d["state"] for d in view.shown()] == ["unrouted"]


def test_the_poll_closes_a_stuck_remediation_failed_and_escalates_once():
    clock = Clock()
    store = StateStore(shared_datastore(), clock)
    payload = alert()
    store.put(INCIDENT + payload["tracking_id"], remediating(clock.now, 10))
    view = IncidentView()
    ended = {"status": "failed", "end_timestamp": iso(clock.now - 100)}
    api = FakeApi(execution=ended)
    poll, registry = poller(store, api, view)
    poll.poll_once()
    rec = store.get(INCIDENT + payload["tracking_id"])
    assert rec["state"] == "failed" and "ended failed without recording" in rec["reason"]
    assert rec["reason"].endswith("(escalated)") and rec["remediation"]["escalated"] is True
    ((action, params, tag),) = api.started
    assert action == "poundcake.log_escalation" and tag == payload["tracking_id"]
    assert "closed ServiceDown" in params["message"]
    poll.poll_once()
    assert len(api.started) == 1, "once"
    assert registry.get_sample_value("poundcake_stuck_incidents_closed_total") == 1


def test_what_the_watchdog_closes_is_told_like_any_other_transition():
    """The watchdog is a writer too: its unrouted and failed reach the notifiers."""
    clock = Clock()
    store = StateStore(shared_datastore(), clock)
    stuck, lost = alert(), dict(alert(), alertname="MyAppDown", tracking_id="lost-1")
    store.put(INCIDENT + stuck["tracking_id"], remediating(clock.now, 10))
    view = IncidentView()
    api = FakeApi(execution={"status": "failed", "end_timestamp": iso(clock.now - 100)})
    config = {"notify_action": "chat.post", "notify_on": ["failed", "unrouted"]}
    poll, _ = poller(store, api, view, config)
    view.watch(lost, now=clock.now)
    clock.now += 121
    poll.poll_once()
    told = {
        (p["tracking_id"], p["transition"]) for a, p, _ in api.started if a == "poundcake.notify"
    }
    assert told == {(stuck["tracking_id"], "failed"), ("lost-1", "unrouted")}
    rec = store.get(INCIDENT + stuck["tracking_id"])
    (entry,) = rec["notifications"]["told"]  # stored with the state that told it
    assert (entry["transition"], entry["execution_id"]) == ("failed", "exec-escalation")


def test_each_poll_runs_the_escalation_keeper_last_and_survives_it():
    clock = Clock()
    store = StateStore(shared_datastore(), clock)
    view = IncidentView()
    order = []

    class Keeper:
        def keep(self):
            order.append("keeper")
            if order.count("keeper") > 1:
                raise RuntimeError("st2api: HTTP 503")

    board = mock.Mock()
    board.update.side_effect = lambda *args: order.append("board")
    registry = CollectorRegistry()
    poll = StatePoller(
        RemediationMetrics(registry), store, 1, mock.Mock(), view, board, escalations=Keeper()
    )
    poll.poll_once()  # the seed
    poll.poll_once()
    assert order == ["board", "keeper"] * 2  # Alertmanager's time is never the board's
    assert registry.get_sample_value("poundcake_state_poll_errors_total") == 0


def test_a_failing_read_back_never_keeps_the_watchdog_waiting(monkeypatch):
    """The sensor's start reads back the newest records; while st2api fails
    that read, each poll counts it and still closes what is in flight."""
    import poundcake.state_metrics as state_metrics

    def failing(*args, **kwargs):
        raise RuntimeError("st2api: HTTP 500")

    monkeypatch.setattr(state_metrics, "incidents", failing)
    monkeypatch.setattr(state_metrics, "recent", failing)
    clock = Clock()
    store = StateStore(shared_datastore(), clock)
    view = IncidentView()
    payload = dict(alert(), alertname="MyAppDown")
    poll, registry = poller(store, FakeApi(), view)  # its seed failed
    view.watch(payload, now=clock.now)
    clock.now += 121
    poll.poll_once()  # the seed fails again
    assert store.get(INCIDENT + payload["tracking_id"])["state"] == "unrouted"
    assert registry.get_sample_value("poundcake_state_poll_errors_total") == 2
    monkeypatch.undo()
    poll.poll_once()  # read back now
    assert poll._seeded and registry.get_sample_value("poundcake_state_poll_errors_total") == 2
