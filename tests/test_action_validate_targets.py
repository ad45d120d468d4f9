from st2tests.base import BaseActionTestCase
from validate_targets import ValidateTargets


class ValidateTargetsTest(BaseActionTestCase):
    action_cls = ValidateTargets

    def test_valid_service_target(self):
        ok, result = self.get_action_instance({"allowed_hosts": ["web-*"]}).run(
            kind="service", host="web-1:9100", labels={"service": "nginx"}
        )
        self.assertTrue(ok)
        self.assertEqual(result, {"host": "web-1", "service": "nginx.service"})

    def test_a_host_outside_allowed_hosts_fails(self):
        ok, result = self.get_action_instance({"allowed_hosts": ["db-*"]}).run(
            kind="service", host="web-1:9100", labels={"service": "nginx"}
        )
        self.assertFalse(ok)
        self.assertIn("host web-1 is not in allowed_hosts", result["error"])

    def test_hostile_label_fails_with_a_clear_message(self):
        ok, result = self.get_action_instance({"allowed_hosts": ["web-1"]}).run(
            kind="service", host="web-1", labels={"service": "$(reboot)"}
        )
        self.assertFalse(ok)
        self.assertIn("rejected input, nothing was run", result["error"])
        self.assertIn("$(reboot)", result["error"])

    def test_config_allow_list_applies(self):
        action = self.get_action_instance(
            {"allowed_services": ["nginx"], "allowed_hosts": ["web-1"]}
        )
        ok, result = action.run(kind="service", host="web-1", labels={"service": "postgresql"})
        self.assertFalse(ok)
        self.assertIn("allowed_services", result["error"])
