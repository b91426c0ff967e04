#!/usr/bin/env python3
"""The agent's event stream: `socklb run --log-format json` writes one JSON
object per line, and what the agent did as named events whose fields are a
contract (docs/events.md). The benchmark, the control-plane benchmark and the
soak read the agent through this module, never through its human text.

As a command line, for shell scripts (exit code 1 when the answer is no):

  agent_events.py count LOG EVENT            how many EVENT events LOG holds
  agent_events.py wait LOG EVENT [--timeout S] [--pid PID]
                                             waits until LOG holds one (fails early if PID exits)
  agent_events.py errors LOG                 every event of level error or worse, one per line, for people
  agent_events.py show LOG [--follow]        every event, one line each, for people (tail -f with --follow)
"""

import argparse
import json
import os
import sys
import time


def parse_line(line):
    """The event on one line of the agent's output, or None for a line that
    is not one (another process's output in the same file, a partial line)."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) and "event" in event else None


def parse_text(text, name=None):
    """Every event in `text` (named `name` only, when given), in order."""
    events = (parse_line(line) for line in text.splitlines())
    return [e for e in events if e and (name is None or e["event"] == name)]


def read_events(path, name=None):
    with open(path, errors="replace") as f:
        return parse_text(f.read(), name)


def diagnostic_text(event):
    """A diagnostic event as the text log prints it: "file:line: object: field: message"."""
    where = event.get("file") or ""
    if where and event.get("line"):
        where += f":{event['line']}"
    parts = [p for p in (where, event.get("object"), event.get("field")) if p]
    return ": ".join(parts + [event.get("message", "")])


def is_error(event):
    return event.get("level") in ("error", "critical")


def describe_error(event):
    """An error event in one line: "diagnostic: web.yaml:3: ...", "sync_failed: ..."."""
    if event["event"] == "diagnostic":
        return "diagnostic: " + diagnostic_text(event)
    return f"{event['event']}: {event.get('message', '')}"


def describe(event):
    """Any event in one line for people: its time, level and name, then the
    message or diagnostic, or its fields as key=value."""
    head = f"{event.get('time', '')[11:23]} {event.get('level', ''):7s} {event['event']}"
    if event["event"] == "log":
        return f"{head}: {event.get('message', '')}"
    if event["event"] == "diagnostic":
        return f"{head}: {diagnostic_text(event)}"
    fields = (f"{k}={json.dumps(v) if v is None or isinstance(v, (list, dict)) else v}" for k, v in event.items()
              if k not in ("time", "level", "event"))
    return f"{head}: " + " ".join(fields)


def show(path, follow):
    with open(path, errors="replace") as f:
        while True:
            line = f.readline()
            if not line:
                if not follow:
                    return
                time.sleep(0.2)
                continue
            event = parse_line(line)
            print(describe(event) if event else line.rstrip("\n"), flush=True)


def wait_for(path, name, timeout, pid=None):
    """Waits until the log at `path` holds an event `name`; returns it, or
    None on timeout or when process `pid` is gone."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(path):
            found = read_events(path, name)
            if found:
                return found[0]
        if pid is not None and not os.path.exists(f"/proc/{pid}"):
            return None
        time.sleep(0.05)
    return None


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    count = sub.add_parser("count")
    count.add_argument("log")
    count.add_argument("event")
    wait = sub.add_parser("wait")
    wait.add_argument("log")
    wait.add_argument("event")
    wait.add_argument("--timeout", type=float, default=30)
    wait.add_argument("--pid", type=int)
    errors = sub.add_parser("errors")
    errors.add_argument("log")
    show_cmd = sub.add_parser("show")
    show_cmd.add_argument("log")
    show_cmd.add_argument("--follow", action="store_true")
    a = p.parse_args()
    if a.command == "count":
        print(len(read_events(a.log, a.event)))
        return 0
    if a.command == "wait":
        return 0 if wait_for(a.log, a.event, a.timeout, a.pid) else 1
    if a.command == "show":
        try:
            show(a.log, a.follow)
        except KeyboardInterrupt:
            pass
        return 0
    for event in read_events(a.log):
        if is_error(event):
            print(describe_error(event))
    return 0


if __name__ == "__main__":
    sys.exit(main())
