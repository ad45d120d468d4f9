from st2tests.base import BaseActionTestCase
from validate_targets import ValidateTargets


class ValidateTargetsTest(BaseActionTestCase):
    action_cls = ValidateTargets

    def test_valid_service_target(self):
        ok, result = self.get_action_instance({}).run(
            kind="service", host="web-1:9100", labels={"service": "nginx"}
        )
        self.assertTrue(ok)
        self.assertEqual(result, {"host": "web-1", "service": "nginx"})

    def test_hostile_label_fails_with_a_clear_message(self):
        ok, result = self.get_action_instance({}).run(
            kind="service", host="web-1", labels={"service": "$(reboot)"}
        )
        self.assertFalse(ok)
        self.assertIn("rejected input, nothing was run", result["error"])
        self.assertIn("$(reboot)", result["error"])

    def test_config_allow_list_applies(self):
        action = self.get_action_instance({"allowed_services": ["nginx"]})
        ok, result = action.run(kind="service", host="web-1", labels={"service": "sshd"})
        self.assertFalse(ok)
        self.assertIn("allowed_services", result["error"])
