from typing import Optional

from poundcake.action import PoundCakeAction, Result
from poundcake.queries import list_alerts


class ListAlerts(PoundCakeAction):
    def run(
        self,
        status: Optional[str] = None,
        severity: Optional[str] = None,
        alertname: Optional[str] = None,
        limit: int = 50,
    ) -> Result:
        retention = self.retention()  # how far back the index is walked, what is gone
        return self.attempt(
            list_alerts, self.store(), status, severity, alertname, limit, retention
        )
