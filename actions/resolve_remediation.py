from poundcake.action import PoundCakeAction
from poundcake.routing import resolve


class ResolveRemediation(PoundCakeAction):
    def run(self, workflow=None, runbook=None):
        ok, ref = self.attempt(
            resolve, workflow, runbook, self.config_dict(), prefix="no remediation run: "
        )
        return (ok, {"action": ref}) if ok else (ok, ref)
