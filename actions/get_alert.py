from poundcake.action import PoundCakeAction, Result
from poundcake.queries import get_alert


class GetAlert(PoundCakeAction):
    def run(self, fingerprint: str) -> Result:
        return self.attempt(get_alert, self.store(), fingerprint, self.retention())
