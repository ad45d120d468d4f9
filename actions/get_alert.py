from poundcake.action import PoundCakeAction
from poundcake.queries import QueryError, get_alert


class GetAlert(PoundCakeAction):
    def run(self, fingerprint):
        try:
            return True, get_alert(self.store(), fingerprint)
        except QueryError as exc:
            return self.fail(str(exc))
