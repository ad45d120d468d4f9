from typing import Dict

from poundcake.action import PoundCakeAction, Result
from poundcake.envelope import kill_switch
from poundcake.targets import validate


class ValidateTargets(PoundCakeAction):
    """The first step of every shipped remediation: the kill switch again (a
    remediation queued behind the concurrency policies may start after an
    operator flipped it), then the values it will act on."""

    def run(self, kind: str, host: str, labels: Dict[str, str]) -> Result:
        config = self.config_dict()
        switched_off = kill_switch(config, self.door().read_switch())
        if switched_off:
            return self.fail(f"refused, nothing was run: {switched_off}")
        return self.attempt(
            validate, kind, host, labels, config, prefix="rejected input, nothing was run: "
        )
