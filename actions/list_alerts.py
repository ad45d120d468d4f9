from poundcake.action import PoundCakeAction
from poundcake.queries import list_alerts


class ListAlerts(PoundCakeAction):
    def run(self, status=None, severity=None, alertname=None, limit=50):
        return self.attempt(list_alerts, self.store(), status, severity, alertname, limit)
