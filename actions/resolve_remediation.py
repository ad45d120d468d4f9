from typing import Optional

from poundcake.action import PoundCakeAction, Result
from poundcake.routing import resolve


class ResolveRemediation(PoundCakeAction):
    def run(self, workflow: Optional[str] = None, runbook: Optional[str] = None) -> Result:
        ok, ref = self.attempt(
            resolve, workflow, runbook, self.config_dict(), prefix="no remediation run: "
        )
        return (ok, {"action": ref}) if ok else (ok, ref)
