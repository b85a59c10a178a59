# Operation: record the env in $ReceiptPath ($Receipt), then create it with conda.exe by
# absolute path: $Conda create -y -q -p $EnvPrefix @CondaArgs.
New-Item -ItemType Directory -Force -Path (Split-Path -Parent $ReceiptPath) | Out-Null
[IO.File]::WriteAllText($ReceiptPath, $Receipt)
& $Conda create -y -q -p $EnvPrefix @CondaArgs
exit $LASTEXITCODE
