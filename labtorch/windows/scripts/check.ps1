# Fact (labtorch check): what a deployed PC must still show, without writing anything there:
# the recorded $Plan (plan.json text), the sha256 of $Condarc, the text of $PipIni, and a fresh
# run of the verification $Script with the env's $Python (--out -: the report is printed, not
# saved; its lines joined into one string). Prints one JSON object; a missing file is $null,
# never an error.
$r = [ordered]@{ plan = $null; condarc_sha256 = $null; pip_ini = $null; python = $false; script = $false; verify = $null }
if (Test-Path -LiteralPath $Plan -PathType Leaf) { $r.plan = [IO.File]::ReadAllText($Plan) }
if (Test-Path -LiteralPath $Condarc -PathType Leaf) {
    $r.condarc_sha256 = (Get-FileHash -Algorithm SHA256 -LiteralPath $Condarc).Hash.ToLowerInvariant()
}
if (Test-Path -LiteralPath $PipIni -PathType Leaf) { $r.pip_ini = [IO.File]::ReadAllText($PipIni) }
$r.python = Test-Path -LiteralPath $Python -PathType Leaf
$r.script = Test-Path -LiteralPath $Script -PathType Leaf
if ($r.python -and $r.script) {
    $r.verify = (& $Python $Script --plan $Plan --out '-' --kernel-timeout $KernelTimeout 2>&1 | ForEach-Object { "$_" }) -join "`n"
}
Out-LabtorchJson $r
