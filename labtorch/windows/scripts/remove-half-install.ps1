# Operation: remove the install at $Prefix that labtorch started and that never finished.
# Reads $Prefix and $Pending. Checks again, on the PC, what the conda fact saw: labtorch's
# receipt in $Pending says it started the installer for exactly $Prefix, and $Prefix has no
# complete conda (Scripts\conda.exe and conda-meta\history). Otherwise nothing is removed.
$f = "$Pending\receipt.json"
$r = $null
if (Test-Path -LiteralPath $f -PathType Leaf) { $r = [IO.File]::ReadAllText($f) | ConvertFrom-Json }
$done = (Test-Path -LiteralPath "$Prefix\Scripts\conda.exe") -and (Test-Path -LiteralPath "$Prefix\conda-meta\history")
if ($null -eq $r -or $r.tool -ne 'labtorch' -or $r.state -ne 'started' -or $r.phase -ne 'installer' -or "$($r.prefix)".TrimEnd('\') -ne $Prefix.TrimEnd('\') -or $done) {
    [Console]::Error.WriteLine("labtorch: $Prefix is not an install labtorch started and left unfinished; nothing removed")
    exit 1
}
Remove-Item -LiteralPath $Prefix -Recurse -Force
