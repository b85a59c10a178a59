# Fact: conda installs. Reads $Prefixes (absolute paths) and $Usual (also look where
# Miniforge, Miniconda and Anaconda install by default: all users and every user profile).
# Lists files only; nothing found is executed.
$list = @($Prefixes)
if ($Usual) {
    foreach ($n in 'miniforge3', 'miniconda3', 'anaconda3', 'mambaforge') {
        $list += Join-Path $env:ProgramData $n
    }
    $profiles = Split-Path -Parent $env:USERPROFILE
    foreach ($u in Get-ChildItem -LiteralPath $profiles -Directory -ErrorAction SilentlyContinue) {
        foreach ($n in 'miniforge3', 'miniconda3', 'anaconda3', 'mambaforge') {
            $list += Join-Path $u.FullName $n
        }
    }
}
function Read-Receipt($Path) {
    if (Test-Path -LiteralPath $Path -PathType Leaf) { return [IO.File]::ReadAllText($Path) }
    return $null
}
$seen = @{}
$out = @()
foreach ($p in $list) {
    if (-not $p -or $seen.ContainsKey($p.ToLowerInvariant())) { continue }
    $seen[$p.ToLowerInvariant()] = $true
    $i = @{ prefix = $p; exists = (Test-Path -LiteralPath $p -PathType Container) }
    $i.pending = Read-Receipt "$p.labtorch-install\receipt.json"
    if (-not $i.exists -and -not $i.pending) { continue }
    if ($i.exists) {
        $i.conda = Test-Path -LiteralPath "$p\Scripts\conda.exe"
        $i.history = Test-Path -LiteralPath "$p\conda-meta\history"
        $i.meta = @(Get-ChildItem -LiteralPath "$p\conda-meta" -Filter '*.json' -Name -ErrorAction SilentlyContinue | Where-Object { $_ -match '^(conda|anaconda|_anaconda_depends)-' })
        $i.receipt = Read-Receipt "$p\.labtorch\receipt.json"
        $i.envs = @(Get-ChildItem -LiteralPath "$p\envs" -Directory -ErrorAction SilentlyContinue | ForEach-Object {
            @{ name = $_.Name; python = (Test-Path -LiteralPath "$($_.FullName)\python.exe"); receipt = (Read-Receipt "$p\.labtorch\envs\$($_.Name).json") }
        })
    }
    $out += $i
}
Out-LabtorchJson $out
