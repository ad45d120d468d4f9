from poundcake.action import PoundCakeAction
from poundcake.targets import TargetRejected, validate


class ValidateTargets(PoundCakeAction):
    def run(self, kind, host, labels):
        try:
            return True, validate(kind, host, labels, self.config_dict())
        except TargetRejected as exc:
            return self.fail(f"rejected input, nothing was run: {exc}")
