from poundcake.action import PoundCakeAction
from poundcake.targets import validate


class ValidateTargets(PoundCakeAction):
    def run(self, kind, host, labels):
        config = self.config_dict()
        return self.attempt(
            validate, kind, host, labels, config, prefix="rejected input, nothing was run: "
        )
