"""The rule for names users give things (datasets, presets): safe in a path, a URL and a file name."""

from __future__ import annotations

import re

NAME_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
NAME_RULE = "1-64 characters: lowercase letters, digits, '-' and '_', starting with a letter or digit"
