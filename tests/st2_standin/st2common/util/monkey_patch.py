"""Stand-in for st2common.util.monkey_patch: eventlet-patch the process as st2 does.

st2 calls it first thing in every service and sensor process, and
``st2tests.base`` calls it at import, so pack tests run patched too.
"""

import os
import sys

__all__ = ["monkey_patch", "is_use_debugger_flag_provided"]

USE_DEBUGGER_FLAG = "--use-debugger"
PARENT_ARGS_FLAG = "--parent-args="
USE_DEBUGGER_ENV_VAR = "ST2_USE_DEBUGGER"


def monkey_patch(patch_thread=None):
    import eventlet

    if patch_thread is None:
        patch_thread = not is_use_debugger_flag_provided()
    eventlet.monkey_patch(os=True, select=True, socket=True, thread=patch_thread, time=True)


def is_use_debugger_flag_provided():
    if USE_DEBUGGER_FLAG in sys.argv:
        return True
    if any(arg.startswith(PARENT_ARGS_FLAG) and USE_DEBUGGER_FLAG in arg for arg in sys.argv):
        return True
    return bool(os.environ.get(USE_DEBUGGER_ENV_VAR, False))
