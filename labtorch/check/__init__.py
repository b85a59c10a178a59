"""Compliance re-checks of a room: did any host drift from what the deploy gave it?

- ``run``: load the inventory, gather every host in parallel (``gather``: one remote command per
  Linux host, four PowerShell scripts per Windows PC), evaluate (``evaluate``: re-plan → drift,
  ``labtorch.verify_report.judge``, config files);
- ``model``: ``CheckRun`` → ``HostReport`` → ``CheckResult`` (pass, skipped, simulated, drift,
  fail, unreachable) and the version facts per host;
- ``render``: terminal table, JSON, JUnit XML, self-contained HTML with the trend chart;
- ``history``: every run in SQLite under labtorch's state directory;
- ``schedule``: systemd timer, crontab entry, or the Windows ``schtasks`` command;
- ``testinfra``: the optional testinfra suite as one more column.

The CLI is ``labtorch.cli.check`` (``labtorch check``, ``report``, ``inventory-report``,
``schedule``); the manual is README.md ("Compliance re-checks").
"""
