from poundcake.action import PoundCakeAction, Result
from poundcake.state_store import SUPPRESSION, iso
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
            shown = dict(doc, active=window.active(now))
            for key in ("starts_at", "ends_at", "created_at"):
                shown[key] = iso(doc[key])
            out.append(shown)
        return True, sorted(out, key=lambda d: d["starts_at"])
