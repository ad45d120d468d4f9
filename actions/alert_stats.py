from poundcake.action import PoundCakeAction, Result
from poundcake.queries import alert_stats


class AlertStats(PoundCakeAction):
    def run(self, hours: int = 24) -> Result:
        return self.attempt(alert_stats, self.store(), hours, self.retention())
