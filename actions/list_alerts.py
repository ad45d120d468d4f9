from poundcake.action import PoundCakeAction
from poundcake.queries import QueryError, list_alerts


class ListAlerts(PoundCakeAction):
    def run(self, status=None, severity=None, alertname=None, limit=50):
        try:
            return True, list_alerts(self.store(), status, severity, alertname, limit)
        except QueryError as exc:
            return self.fail(str(exc))
