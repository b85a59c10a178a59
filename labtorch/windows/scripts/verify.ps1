# Fact: run the verification script with the env's own python.exe, by absolute path (no
# activation, no execution policy involved). The script prints one JSON line.
if (-not (Test-Path -LiteralPath $Python -PathType Leaf)) { exit 0 }
& $Python $Script --plan $Plan --kernel-timeout $KernelTimeout 2>&1 | ForEach-Object { "$_" }
exit 0
