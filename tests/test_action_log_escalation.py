from log_escalation import LogEscalation
from st2tests.base import BaseActionTestCase


class LogEscalationTest(BaseActionTestCase):
    action_cls = LogEscalation

    def test_logs_and_returns_the_message(self):
        action = self.get_action_instance({})
        with self.assertLogs(action.logger, level="ERROR") as logs:
            ok, result = action.run(message="remediation failed for x")
        self.assertTrue(ok)
        self.assertEqual(result, {"escalated": True, "message": "remediation failed for x"})
        self.assertIn("ESCALATION remediation failed for x", logs.output[0])
