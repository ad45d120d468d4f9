"""The base of the pack's Python actions.

st2 puts ``actions/lib`` on Python actions' path, so actions import the
``poundcake`` library directly. A failed action returns ``(False, {"error":
...})`` so that ``st2 execution get`` and Orquesta's ``result().result.error``
both show why.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Callable, Dict, Optional, Tuple

from st2common.runners.base_action import Action

from poundcake.envelope import KILL_SWITCH_KEY, Door
from poundcake.lifecycle_config import DEFAULTS, Retention
from poundcake.state_store import StateStore
from poundcake.transitions import Tell, Transitions, teller

# What run() returns: st2 marks the execution failed when the flag is False.
Result = Tuple[bool, Any]


class PoundCakeAction(Action):
    def config_dict(self) -> Dict[str, Any]:
        """The pack config as a plain dict (missing keys read as absent, not errors)."""
        return dict(self.config or {})

    def store(self) -> StateStore:
        """PoundCake's records in the st2 datastore (global ``poundcake.`` keys)."""
        return StateStore(self.action_service)

    def lock(self, name: str) -> AbstractContextManager:
        """A lock of st2's coordination backend (the one its concurrency
        policies use): the datastore has no compare-and-set. Without a backend
        st2 hands out a no-op lock and logs that races are possible."""
        from st2common.services import coordination

        return coordination.get_coordinator(start_heart=False).get_lock(name)

    def door(self, store: Optional[StateStore] = None) -> Door:
        """The safety envelope every remediation passes (see poundcake.envelope)."""

        def read_switch() -> Optional[str]:
            return self.action_service.get_value(KILL_SWITCH_KEY, local=False)

        return Door(self.config_dict(), store or self.store(), self.lock, read_switch)

    def transitions(self) -> Transitions:
        """Where a write hands its transitions: messages, escalation alert, silence."""
        return Transitions(self.config_dict(), self.logger, store=self.store())

    def telling(self, store: StateStore) -> Tell:
        """``close_incidents``' ``tell``: the resolve's transitions, handed on."""
        return teller(self.config_dict(), self.logger, clock=store.clock, reuse=True, store=store)

    def lifecycle(self, key: str) -> Any:
        """A lifecycle setting (see lifecycle_config); a bad value is an error."""
        default, check = DEFAULTS[key]
        value = self.config_dict().get(key)
        if value is None:
            return default
        if not check(value):
            raise ValueError(f"config {key} has an invalid value {value!r}")
        return value

    def retention(self) -> Retention:
        """How long records live, from the config (the queries hide what is gone)."""
        return Retention(
            self.lifecycle("unresolved_ttl_seconds"), self.lifecycle("incident_ttl_seconds")
        )

    def attempt(self, func: Callable[..., Any], *args: Any, prefix: str = "") -> Result:
        """``(True, func(*args))``, or a failure whose message is the ValueError's.

        The library reports bad input as ValueError subclasses (TargetRejected,
        RoutingError, QueryError, ...), which the user should read, not a traceback.
        """
        try:
            return True, func(*args)
        except ValueError as exc:
            return self.fail(f"{prefix}{exc}")

    def fail(self, message: str) -> Result:
        self.logger.warning(message)
        return False, {"error": message}
