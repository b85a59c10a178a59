# Operation: download the pinned installer, check its sha256, run it silently into $Prefix.
# Reads $Prefix, $Pending (a folder beside the prefix, labtorch's), $Url, $File, $Sha256,
# $Flags (installer arguments, /D= last), $Started and $Complete (receipt texts).
# The "started" receipt is written only after the sha256 matched, right before the installer
# starts; every failure until it starts removes $Pending, so no receipt is left that could make a
# conda installed at $Prefix later look like labtorch's (remove-half-install.ps1 runs first
# when labtorch's own install was interrupted).
if (Test-Path -LiteralPath $Prefix) {
    [Console]::Error.WriteLine("labtorch: $Prefix exists; not installing over it")
    exit 1
}
if (Test-Path -LiteralPath $Pending) { Remove-Item -LiteralPath $Pending -Recurse -Force }
New-Item -ItemType Directory -Force -Path $Pending | Out-Null
$exe = Join-Path $Pending $File
try {
    Invoke-WebRequest -Uri $Url -OutFile $exe -UseBasicParsing
    $h = (Get-FileHash -Algorithm SHA256 -LiteralPath $exe).Hash.ToLowerInvariant()
    if ($h -ne $Sha256) { throw "sha256 $h, expected ${Sha256}: not the pinned installer" }
    [IO.File]::WriteAllText("$Pending\receipt.json", $Started)
    $p = Start-Process -FilePath $exe -ArgumentList $Flags -Wait -PassThru -NoNewWindow
} catch {
    Remove-Item -LiteralPath $Pending -Recurse -Force -ErrorAction SilentlyContinue
    [Console]::Error.WriteLine("labtorch: ${Url}: $($_.Exception.Message)")
    exit 1
}
if ($p.ExitCode -ne 0 -or -not (Test-Path -LiteralPath "$Prefix\Scripts\conda.exe")) {
    [Console]::Error.WriteLine("labtorch: installer exit code $($p.ExitCode), $Prefix\Scripts\conda.exe missing")
    exit 1
}
New-Item -ItemType Directory -Force -Path "$Prefix\.labtorch" | Out-Null
[IO.File]::WriteAllText("$Prefix\.labtorch\receipt.json", $Complete)
Remove-Item -LiteralPath $Pending -Recurse -Force
