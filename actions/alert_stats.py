from poundcake.action import PoundCakeAction
from poundcake.queries import alert_stats


class AlertStats(PoundCakeAction):
    def run(self):
        return True, alert_stats(self.store())
