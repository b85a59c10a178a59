# Operation: fail this host only, printing what was wrong and what to do ($Message).
[Console]::Error.WriteLine($Message)
exit 1
