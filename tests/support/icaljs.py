"""A second iCalendar parser for the tests: Mozilla's ical.js (Thunderbird's), run by node.

ical.js is installed on first use into the git-ignored tests/.node/. Without node (or the npm
registry) the tests that need it are skipped with the reason, except under CI=true, where they
fail: CI must run them.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support import in_ci

NODE_FOLDER = Path(__file__).parent.parent / ".node"  # tests/.node, which git ignores

# Registers the feed's own VTIMEZONEs (ical.js has no zone database of its own), so the times
# it reports prove the VTIMEZONE we publish is right, not just the TZID.
_SCRIPT = r"""
const ICAL = require('ical.js');
let text = '';
process.stdin.on('data', chunk => text += chunk).on('end', () => {
  const calendar = new ICAL.Component(ICAL.parse(text));
  for (const zone of calendar.getAllSubcomponents('vtimezone')) {
    ICAL.TimezoneService.register(zone);
  }
  const unix = t => (t ? t.toUnixTime() : null);
  const props = {};
  for (const p of calendar.getAllProperties()) props[p.name] = String(p.getFirstValue());
  const events = calendar.getAllSubcomponents('vevent').map(component => {
    const event = new ICAL.Event(component);
    const categories = component.getFirstProperty('categories');
    return {
      uid: event.uid,
      summary: event.summary,
      description: event.description,
      location: event.location,
      url: component.getFirstPropertyValue('url'),
      status: component.getFirstPropertyValue('status'),
      sequence: event.sequence,
      start: unix(event.startDate),
      end: unix(event.endDate),
      start_zone: event.startDate.zone.tzid,
      end_zone: event.endDate.zone.tzid,
      dtstamp: unix(component.getFirstPropertyValue('dtstamp')),
      last_modified: unix(component.getFirstPropertyValue('last-modified')),
      categories: categories ? categories.getValues() : [],
    };
  });
  process.stdout.write(JSON.stringify({calendar: props, events}));
});
"""


def _unavailable(reason: str) -> None:
    if in_ci():
        pytest.fail(f"CI must parse feeds with ical.js: {reason}")
    pytest.skip(reason)


def icaljs_folder() -> Path:
    """The folder whose node_modules holds ical.js, installing it there if missing."""
    if shutil.which("node") is None:
        _unavailable("node is not installed (apt-get install nodejs npm)")
    if not (NODE_FOLDER / "node_modules" / "ical.js").is_dir():
        npm = shutil.which("npm")
        if npm is None:
            _unavailable("npm is not installed, so ical.js cannot be installed")
        result = subprocess.run(
            [npm, "install", "--prefix", str(NODE_FOLDER), "--no-audit", "--no-fund", "ical.js"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if result.returncode != 0:
            _unavailable(f"npm install ical.js failed: {result.stderr.strip()[-500:]}")
    return NODE_FOLDER


def parse_with_icaljs(ics: bytes, folder: Path) -> dict[str, Any]:
    """{"calendar": {property: value}, "events": [{uid, summary, start (unix), ...}]}"""
    result = subprocess.run(
        ["node", "-e", _SCRIPT],
        input=ics,
        capture_output=True,
        cwd=folder,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr.decode()
    return json.loads(result.stdout)
