# Operation: run one program by absolute path with its arguments: & $Exe @ExeArgs.
# (pip through the env's python.exe, conda.exe; never a shell, never activation.)
& $Exe @ExeArgs
exit $LASTEXITCODE
