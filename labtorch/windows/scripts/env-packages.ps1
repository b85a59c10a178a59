# Fact: the Python version and pip packages of the env whose python.exe is $Python.
if (-not (Test-Path -LiteralPath $Python -PathType Leaf)) {
    Out-LabtorchJson $null
    exit 0
}
$v = (& $Python -V 2>&1 | ForEach-Object { "$_" }) -join ' '
$l = (& $Python -m pip list '--format=json' --disable-pip-version-check 2>$null) -join ''
Out-LabtorchJson @{ version = $v; pip = $l }
