# Fact: NVIDIA GPUs. Reads $Fields and $FieldsOld (nvidia-smi --query-gpu field lists).
# nvidia-smi.exe lives in System32 (DCH drivers) or the NVSMI folder (older drivers); WMI's
# Win32_VideoController names the adapters even when no NVIDIA driver is installed.
$paths = @("$env:SystemRoot\System32\nvidia-smi.exe", "$env:ProgramFiles\NVIDIA Corporation\NVSMI\nvidia-smi.exe")
$smi = $paths | Where-Object { Test-Path -LiteralPath $_ } | Select-Object -First 1
if (-not $smi) {
    $found = Get-Command -Name 'nvidia-smi.exe' -CommandType Application -ErrorAction SilentlyContinue | Select-Object -First 1
    if ($found) { $smi = $found.Source }
}
$r = @{ smi = $smi }
if ($smi) {
    $f = $Fields
    $q = (& $smi "--query-gpu=$f" '--format=csv,noheader,nounits' 2>&1 | ForEach-Object { "$_" }) -join "`n"
    $qrc = $LASTEXITCODE
    if ($q -match 'not a valid field') {
        $f = $FieldsOld
        $q = (& $smi "--query-gpu=$f" '--format=csv,noheader,nounits' 2>&1 | ForEach-Object { "$_" }) -join "`n"
        $qrc = $LASTEXITCODE
    }
    $t = (& $smi 2>&1 | ForEach-Object { "$_" }) -join "`n"
    $r.fields = $f
    $r.query = $q
    $r.query_rc = $qrc
    $r.table = $t
    $r.table_rc = $LASTEXITCODE
}
try {
    $r.video = @(Get-CimInstance -ClassName Win32_VideoController | ForEach-Object {
        @{ name = $_.Name; driver = $_.DriverVersion; vendor = $_.AdapterCompatibility; pnp = $_.PNPDeviceID }
    })
} catch {
    $r.video_error = "$_"
}
Out-LabtorchJson $r
