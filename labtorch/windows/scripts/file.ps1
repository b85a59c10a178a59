# Fact: one file labtorch manages ($Path): whether it exists, its sha256 and whether it
# carries labtorch's $Mark.
if (-not (Test-Path -LiteralPath $Path -PathType Leaf)) {
    Out-LabtorchJson @{ exists = $false }
    exit 0
}
$sha = (Get-FileHash -Algorithm SHA256 -LiteralPath $Path).Hash.ToLowerInvariant()
$marked = [IO.File]::ReadAllText($Path).Contains($Mark)
Out-LabtorchJson @{ exists = $true; sha256 = $sha; marked = $marked }
