from typing import List, Optional

from poundcake.action import PoundCakeAction, Result
from poundcake.alertmanager import PayloadError, parse_timestamp
from poundcake.state_store import SUPPRESSION, epoch
from poundcake.suppressions import SuppressionError, new_suppression


class CreateSuppression(PoundCakeAction):
    """Open a maintenance window: matching alerts are recorded, not remediated."""

    def run(
        self,
        matchers: List[str],
        reason: str,
        author: str,
        ends_at: Optional[str] = None,
        duration_minutes: Optional[int] = None,
        starts_at: Optional[str] = None,
    ) -> Result:
        store = self.store()
        now = store.clock()
        try:
            start = epoch(parse_timestamp(starts_at, "starts_at")) if starts_at else now
            if ends_at:
                end = epoch(parse_timestamp(ends_at, "ends_at"))
            elif duration_minutes:
                end = start + 60 * duration_minutes
            else:
                return self.fail("give ends_at or duration_minutes")
            suppression = new_suppression(matchers, start, end, reason, author, now)
        except (SuppressionError, PayloadError) as exc:
            return self.fail(f"suppression not created: {exc}")
        ttl = int(end - now) + 3600
        store.put(SUPPRESSION + suppression.id, suppression.to_dict(), ttl=ttl)
        return True, suppression.view(now)
