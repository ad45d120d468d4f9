from poundcake.action import PoundCakeAction, Result
from poundcake.approval import timeout_seconds
from poundcake.st2_api import St2Api, St2ApiError


class ExpireApproval(PoundCakeAction):
    """Answer ``approved: false`` to an approval inquiry nobody answered in time.

    Scheduled by note_approval as a delayed st2 execution; process_alert then
    resumes and records not_approved, and escalates.
    """

    def run(self, inquiry_id: str, tracking_id: str) -> Result:
        try:
            api = St2Api.from_env()
            if not api.pending_inquiry(inquiry_id):
                return True, {
                    "inquiry_id": inquiry_id,
                    "expired": False,
                    "note": "already answered",
                }
            seconds = timeout_seconds(self.config_dict())
            comment = f"no answer within approval_timeout_seconds ({seconds} s)"
            try:
                api.respond(inquiry_id, {"approved": False, "comment": comment})
            except St2ApiError:
                if api.pending_inquiry(inquiry_id):
                    raise
                return True, {
                    "inquiry_id": inquiry_id,
                    "expired": False,
                    "note": "answered just now",
                }
        except (St2ApiError, ValueError) as exc:
            return self.fail(f"could not expire inquiry {inquiry_id} of {tracking_id}: {exc}")
        return True, {"inquiry_id": inquiry_id, "expired": True, "note": comment}
