"""The exit codes every ``labtorch`` command uses (docs/reference/commands.md lists them).

======  ==========================================================================
code    meaning
======  ==========================================================================
0       done; for ``check``: every host complies
1       for ``check``: a checked host drifted or failed (``--fix`` could not mend it)
2       usage error or bad input (a file, a setting, an option): one line on stderr
3       a host could not be reached (``check``, ``inventory-report``); others were
======  ==========================================================================
"""

EXIT_OK = 0
EXIT_DRIFT = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
