from resolve_remediation import ResolveRemediation
from st2tests.base import BaseActionTestCase


class ResolveRemediationTest(BaseActionTestCase):
    action_cls = ResolveRemediation

    def test_runbook_from_config(self):
        action = self.get_action_instance(
            {"runbooks": {"restart_web": "poundcake.remediate_service_down"}}
        )
        self.assertEqual(
            action.run(runbook="restart_web"),
            (True, {"action": "poundcake.remediate_service_down"}),
        )

    def test_unlisted_action_fails_and_says_why(self):
        ok, result = self.get_action_instance({}).run(workflow="core.local")
        self.assertFalse(ok)
        self.assertIn("no remediation run", result["error"])
        self.assertIn("allowed_actions", result["error"])
