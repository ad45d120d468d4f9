from poundcake.action import PoundCakeAction, Result
from poundcake.state_store import SUPPRESSION
from poundcake.suppressions import Suppression


class ListSuppressions(PoundCakeAction):
    def run(self, include_expired: bool = False) -> Result:
        store = self.store()
        now = store.clock()
        out = []
        for doc in store.records(SUPPRESSION):
            window = Suppression.from_dict(doc)
            if window.ends_at <= now and not include_expired:
                continue
            out.append(window.view(now))
        return True, sorted(out, key=lambda d: d["starts_at"])
