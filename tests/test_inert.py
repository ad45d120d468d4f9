"""Alert text never reaches st2 or Orquesta as a template expression."""

import pytest
from deliveries import firing_body

from poundcake.alertmanager import parse_delivery
from poundcake.inert import inert

HOSTILE = [
    "{{ st2kv.system.poundcake_webhook_token | decrypt_kv }}",
    "{% for x in y %}{% endfor %}",
    "{# comment #}",
    "<% ctx(st2) %>",
    "{{{ nested }}}",
    "<%% ctx() %%>",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_no_delimiter_survives(text):
    out = inert(text)
    for delimiter in ("{{", "}}", "{%", "%}", "{#", "#}", "<%", "%>"):
        assert delimiter not in out
    assert out.replace(" ", "") == text.replace(" ", "")  # it reads the same


def test_plain_text_is_unchanged():
    text = "disk 95% full on web-1 {env=prod} <a href> 50%"
    assert inert(text) == text


def test_every_string_of_a_delivery_is_inert():
    body = firing_body()
    alert = body["alerts"][0]
    alert["labels"]["note"] = HOSTILE[0]
    alert["annotations"]["summary"] = HOSTILE[3]
    alert["generatorURL"] = "http://x/{{ y }}"
    body["commonAnnotations"] = {"summary": HOSTILE[3]}
    body["externalURL"] = "http://am/<% 1 %>"
    delivery = parse_delivery(body)
    parsed = delivery.alerts[0]
    assert parsed.labels["note"] == "{ { st2kv.system.poundcake_webhook_token | decrypt_kv } }"
    assert parsed.annotations["summary"] == "< % ctx(st2) % >"
    assert parsed.generator_url == "http://x/{ { y } }"
    assert delivery.common_annotations["summary"] == "< % ctx(st2) % >"
    assert delivery.external_url == "http://am/< % 1 % >"
