"""Moved to `bot.playground.slack_requests` (the local workspace ships it); this name stays for the tests.

The module object itself is re-exported, so every name (public or not) and monkeypatching work
exactly as before.
"""

import sys

from bot.playground import slack_requests as _moved

sys.modules[__name__] = _moved
