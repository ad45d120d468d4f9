from poundcake.action import PoundCakeAction
from poundcake.routing import RoutingError, resolve


class ResolveRemediation(PoundCakeAction):
    def run(self, workflow=None, runbook=None):
        try:
            return True, {"action": resolve(workflow, runbook, self.config_dict())}
        except RoutingError as exc:
            return self.fail(f"no remediation run: {exc}")
