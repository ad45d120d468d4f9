"""Parsing and validation of Alertmanager v4 webhook bodies."""

import pytest
from deliveries import firing_body, make_delivery, resolved_body

from poundcake.alertmanager import PayloadError, parse_delivery, parse_timestamp


def test_real_firing_delivery_parses_with_truncation_surfaced():
    delivery = parse_delivery(firing_body())
    assert delivery.status == "firing"
    assert delivery.truncated_alerts == 2
    assert [a.fingerprint for a in delivery.alerts] == [
        "37bb06284ad968e0",
        "bba3db1225d5572f",
        "9f4cffb6a26794c2",
    ]
    first = delivery.alerts[0]
    assert first.alertname == "ProbeAlert"
    assert first.starts_at == "2026-11-23T08:36:00.672713243Z"
    assert first.ends_at is None  # Go's zero time means "no end yet"
    assert delivery.group_key == '{}:{alertname="ProbeAlert"}'


def test_real_resolved_delivery_keeps_end_time():
    delivery = parse_delivery(resolved_body())
    assert {a.status for a in delivery.alerts} == {"resolved"}
    assert delivery.alerts[0].ends_at == "2026-11-23T08:36:03.118616Z"


def test_missing_truncated_alerts_defaults_to_zero():
    body = firing_body()
    del body["truncatedAlerts"]
    assert parse_delivery(body).truncated_alerts == 0


@pytest.mark.parametrize(
    "mutate, path",
    [
        (lambda b: b.update(version="3"), "version"),
        (lambda b: b.update(alerts=[]), "alerts"),
        (lambda b: b.update(status="pending"), "status"),
        (lambda b: b.update(receiver=7), "receiver"),
        (lambda b: b.update(truncatedAlerts=-1), "truncatedAlerts"),
        (lambda b: b["alerts"].__setitem__(1, "x"), "alerts[1]"),
        (lambda b: b["alerts"][2]["labels"].update(severity=5), "alerts[2].labels.severity"),
        (lambda b: b["alerts"][0].update(labels=["a"]), "alerts[0].labels"),
        (lambda b: b["alerts"][0]["labels"].pop("alertname"), "alerts[0].labels.alertname"),
        (lambda b: b["alerts"][0].update(fingerprint="../../etc"), "alerts[0].fingerprint"),
        (lambda b: b["alerts"][0].update(startsAt="yesterday"), "alerts[0].startsAt"),
        (lambda b: b["alerts"][0].update(status="ok"), "alerts[0].status"),
        (lambda b: b["alerts"][1]["annotations"].update(x=None), "alerts[1].annotations.x"),
        (lambda b: b.update(commonLabels=None), "commonLabels"),
    ],
)
def test_invalid_field_is_reported_by_path(mutate, path):
    body = firing_body()
    mutate(body)
    with pytest.raises(PayloadError) as err:
        parse_delivery(body)
    assert err.value.path == path
    assert str(err.value).startswith(f"invalid payload: {path} ")


def test_non_object_body_is_rejected():
    with pytest.raises(PayloadError) as err:
        parse_delivery([1, 2])
    assert err.value.path == "$"


def test_hostile_label_values_are_kept_as_plain_data():
    body = make_delivery(1, service="nginx; touch /tmp/pwned", host="$(reboot)")
    alert = parse_delivery(body).alerts[0]
    assert alert.labels["service"] == "nginx; touch /tmp/pwned"
    assert alert.labels["host"] == "$(reboot)"


@pytest.mark.parametrize(
    "raw, normalised",
    [
        ("2026-11-23T08:36:00Z", "2026-11-23T08:36:00Z"),
        ("2026-11-23T08:36:00.500000000Z", "2026-11-23T08:36:00.500000000Z"),
        ("2026-11-23T08:36:00.000Z", "2026-11-23T08:36:00Z"),
        ("2026-11-23T09:36:00.25+01:00", "2026-11-23T08:36:00.25Z"),
        ("2026-11-23T00:30:00-02:00", "2026-11-23T02:30:00Z"),
    ],
)
def test_timestamps_normalise_to_utc_and_keep_precision(raw, normalised):
    assert parse_timestamp(raw, "t") == normalised


def test_same_instant_in_two_zones_is_the_same_timestamp():
    assert parse_timestamp("2026-11-23T10:00:00+02:00", "t") == parse_timestamp(
        "2026-11-23T08:00:00Z", "t"
    )
