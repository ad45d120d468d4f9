from poundcake.action import PoundCakeAction
from poundcake.queries import get_alert


class GetAlert(PoundCakeAction):
    def run(self, fingerprint):
        return self.attempt(get_alert, self.store(), fingerprint)
