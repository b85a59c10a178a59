# Operation: download the pinned installer, check its sha256, run it silently into $Prefix.
# Reads $Prefix, $Pending (a folder beside the prefix, labtorch's), $Url, $File, $Sha256,
# $Flags (installer arguments, /D= last), $Started and $Complete (receipt texts), $RemoveHalf.
if ($RemoveHalf) { Remove-Item -LiteralPath $Prefix -Recurse -Force }
if (Test-Path -LiteralPath $Prefix) {
    [Console]::Error.WriteLine("labtorch: $Prefix exists and was not made by this run; not installing over it")
    exit 1
}
New-Item -ItemType Directory -Force -Path $Pending | Out-Null
[IO.File]::WriteAllText("$Pending\receipt.json", $Started)
$exe = Join-Path $Pending $File
Invoke-WebRequest -Uri $Url -OutFile $exe -UseBasicParsing
$h = (Get-FileHash -Algorithm SHA256 -LiteralPath $exe).Hash.ToLowerInvariant()
if ($h -ne $Sha256) {
    Remove-Item -LiteralPath $exe -Force
    [Console]::Error.WriteLine("labtorch: $File from $Url has sha256 $h, expected ${Sha256}: not the pinned installer, deleted")
    exit 1
}
$p = Start-Process -FilePath $exe -ArgumentList $Flags -Wait -PassThru -NoNewWindow
if ($p.ExitCode -ne 0 -or -not (Test-Path -LiteralPath "$Prefix\Scripts\conda.exe")) {
    [Console]::Error.WriteLine("labtorch: the installer exited with code $($p.ExitCode) and $Prefix\Scripts\conda.exe is missing")
    exit 1
}
New-Item -ItemType Directory -Force -Path "$Prefix\.labtorch" | Out-Null
[IO.File]::WriteAllText("$Prefix\.labtorch\receipt.json", $Complete)
Remove-Item -LiteralPath $Pending -Recurse -Force
