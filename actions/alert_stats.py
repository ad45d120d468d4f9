from poundcake.action import PoundCakeAction, Result
from poundcake.queries import alert_stats


class AlertStats(PoundCakeAction):
    def run(self) -> Result:
        return True, alert_stats(self.store())
