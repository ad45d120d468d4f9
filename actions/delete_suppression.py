import re

from poundcake.action import PoundCakeAction, Result
from poundcake.state_store import SUPPRESSION


class DeleteSuppression(PoundCakeAction):
    def run(self, suppression_id: str) -> Result:
        if not re.match(r"^[0-9a-f]{16}$", suppression_id):
            return self.fail(f"suppression id {suppression_id!r} must be 16 hex digits")
        if not self.store().delete(SUPPRESSION + suppression_id):
            return self.fail(f"no suppression {suppression_id}")
        return True, {"deleted": suppression_id}
