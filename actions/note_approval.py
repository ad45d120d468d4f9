from poundcake import approval
from poundcake.action import PoundCakeAction, Result
from poundcake.st2_api import St2Api, St2ApiError
from poundcake.state_store import INCIDENT, iso


class NoteApproval(PoundCakeAction):
    """An approval inquiry appeared: keep its id and the commands to answer it
    in the incident, and schedule its expiry (st2 expires inquiries only with
    purge_inquiries, off by default)."""

    def run(self, inquiry_id: str, route: str) -> Result:
        try:
            tracking_id = approval.tracking_id_of(route)
            timeout = approval.timeout_seconds(self.config_dict())
        except ValueError as exc:
            return self.fail(str(exc))
        store = self.store()
        now = store.clock()
        key = INCIDENT + tracking_id
        with self.lock(key):
            record = store.get(key)
            if record is None or record.get("state") != "awaiting_approval":
                state = record.get("state") if record else "no record"
                return self.fail(f"{tracking_id} is not waiting for approval ({state})")
            expiry = ""
            try:
                expiry = St2Api.from_env().run_later(
                    "poundcake.expire_approval",
                    {"inquiry_id": inquiry_id, "tracking_id": tracking_id},
                    timeout,
                    tracking_id,
                )
            except St2ApiError as exc:
                self.logger.error(
                    "%s: no expiry scheduled for inquiry %s: %s", tracking_id, inquiry_id, exc
                )
            said = approval.commands(inquiry_id)
            record.setdefault("approval", {}).update(
                inquiry_id=inquiry_id,
                expires_at=iso(now + timeout),
                expiry_execution_id=expiry,
                **said,
            )
            # record_alert left awaiting_approval to be told here, with the command that approves
            asked = {"state": "awaiting_approval", "note": record.get("reason", "")}
            self.transitions().tell(record, [asked], now)
            store.put(key, record, ttl=self.lifecycle("unresolved_ttl_seconds"))
        return True, {
            "tracking_id": tracking_id,
            "alertname": record["alertname"],
            "instance": record.get("instance", ""),
            "why": record["approval"].get("why", ""),
            "expires_at": iso(now + timeout),
            "expiry_scheduled": bool(expiry),
            **said,
        }
