# Fact: what this PC is. Prints one JSON object (see labtorch.windows.facts.parse_system).
$os = Get-CimInstance -ClassName Win32_OperatingSystem
$drives = @(Get-CimInstance -ClassName Win32_LogicalDisk -Filter 'DriveType=3' | ForEach-Object {
    @{ root = $_.DeviceID + '\'; free_mib = [int64][math]::Floor($_.FreeSpace / 1048576) }
})
$me = [Security.Principal.WindowsPrincipal][Security.Principal.WindowsIdentity]::GetCurrent()
$admin = $me.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)
Out-LabtorchJson @{
    caption = $os.Caption
    version = $os.Version
    build = $os.BuildNumber
    arch = $env:PROCESSOR_ARCHITECTURE
    user = [Environment]::UserName
    profile = $env:USERPROFILE
    appdata = $env:APPDATA
    localappdata = $env:LOCALAPPDATA
    programdata = $env:ProgramData
    system_drive = $env:SystemDrive
    admin = $admin
    powershell = $PSVersionTable.PSVersion.ToString()
    drives = $drives
}
