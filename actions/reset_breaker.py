from poundcake import breaker
from poundcake.action import PoundCakeAction, Result


class ResetBreaker(PoundCakeAction):
    """Close an alertname's circuit breaker so its alerts are remediated again."""

    def run(self, alertname: str) -> Result:
        result = breaker.reset(self.store(), alertname)
        self.logger.info("circuit breaker for %s reset: %s", alertname, result)
        return True, result
