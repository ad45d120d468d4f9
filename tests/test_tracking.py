"""Request and incident ids."""

from deliveries import firing_body, resolved_body

from poundcake.alertmanager import parse_delivery
from poundcake.tracking import incident_id, is_incident_id, is_request_id, new_request_id


def test_incident_id_is_fingerprint_and_start_time():
    alert = parse_delivery(firing_body()).alerts[0]
    assert incident_id(alert) == "37bb06284ad968e0-20261123T083600.672713243Z"
    assert is_incident_id(incident_id(alert))


def test_firing_and_its_resolve_share_the_incident_id():
    firing = parse_delivery(firing_body()).alerts
    resolved = parse_delivery(resolved_body()).alerts
    assert [incident_id(a) for a in firing] == [incident_id(a) for a in resolved]


def test_a_re_fire_is_a_new_incident_of_the_same_fingerprint():
    body = firing_body()
    first = parse_delivery(body).alerts[0]
    body["alerts"][0]["startsAt"] = "2026-11-23T10:00:00Z"
    again = parse_delivery(body).alerts[0]
    assert first.fingerprint == again.fingerprint
    assert incident_id(first) != incident_id(again)


def test_request_ids_are_unique_and_well_formed():
    ids = {new_request_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(is_request_id(i) for i in ids)
    assert not is_request_id("req-; rm -rf /")
