from poundcake.action import PoundCakeAction, Result


class LogEscalation(PoundCakeAction):
    """The default escalation: the message goes to the action's log and result."""

    def run(self, message: str) -> Result:
        self.logger.error("ESCALATION %s", message)
        return True, {"escalated": True, "message": message}
