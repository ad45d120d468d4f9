from typing import Dict

from poundcake.action import PoundCakeAction, Result
from poundcake.targets import validate


class ValidateTargets(PoundCakeAction):
    def run(self, kind: str, host: str, labels: Dict[str, str]) -> Result:
        config = self.config_dict()
        return self.attempt(
            validate, kind, host, labels, config, prefix="rejected input, nothing was run: "
        )
