<#
.SYNOPSIS
Prepare one Windows 10 (1809+) or 11 lab PC so labtorch can reach it: OpenSSH Server installed,
started now and at every boot, TCP port open to the lab's admin subnet only, and the admin's
public key in administrators_authorized_keys with the ACL sshd requires.

.DESCRIPTION
Run once per PC as an administrator: by hand, from a GPO startup script, or from a USB stick.
Safe to run again: every step checks first and says "already" when there is nothing to do.

What it changes, and nothing else:
- the Windows capability OpenSSH.Server (added when missing; needs Windows Update or -Source);
- the sshd service: startup type Automatic, started;
- the firewall: its own rule "labtorch-sshd" (inbound TCP -Port from -AllowFrom only), and the
  rule the OpenSSH install adds for every address ("OpenSSH-Server-In-TCP") is disabled, not
  deleted (Enable-NetFirewallRule -Name OpenSSH-Server-In-TCP restores it);
- %ProgramData%\ssh\administrators_authorized_keys: the key is appended when missing; the file
  is made readable by Administrators and SYSTEM only (by SID, so any Windows language works).
sshd_config is not modified.

.EXAMPLE
powershell -NoProfile -ExecutionPolicy Bypass -File .\bootstrap-windows.ps1 -PublicKeyFile .\labtorch_admin.pub -AllowFrom 10.20.30.0/24
#>
[CmdletBinding()]
param(
    # The admin's public key line ("ssh-ed25519 AAAA... comment"), or -PublicKeyFile.
    [string]$PublicKey = '',
    # A file holding that line (e.g. on the USB stick next to this script).
    [string]$PublicKeyFile = '',
    # Addresses allowed to reach sshd: the admin's subnet(s), e.g. 10.20.30.0/24.
    [Parameter(Mandatory = $true)]
    [string[]]$AllowFrom,
    # The TCP port sshd listens on (its sshd_config Port; 22 unless the site changed it).
    [int]$Port = 22,
    # Folder or .cab source of the OpenSSH.Server capability for PCs without Windows Update.
    [string]$Source = ''
)
$ErrorActionPreference = 'Stop'

function Write-Step($Text) {
    Write-Output "labtorch bootstrap: $Text"
}

$me = [Security.Principal.WindowsPrincipal][Security.Principal.WindowsIdentity]::GetCurrent()
if (-not $me.IsInRole([Security.Principal.WindowsBuiltInRole]::Administrator)) {
    throw 'run this script as an administrator (right-click PowerShell, Run as administrator)'
}
$build = [int](Get-CimInstance -ClassName Win32_OperatingSystem).BuildNumber
if ($build -lt 17763) {
    throw "Windows build $build has no built-in OpenSSH Server; update to Windows 10 1809 (build 17763) or later"
}

if ($PublicKeyFile) {
    $PublicKey = (Get-Content -LiteralPath $PublicKeyFile -TotalCount 1).Trim()
}
$PublicKey = $PublicKey.Trim()
if ($PublicKey -notmatch '^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com) [A-Za-z0-9+/=]+( .*)?$') {
    throw 'give the admin public key with -PublicKey or -PublicKeyFile (one line starting ssh-ed25519, ssh-rsa or ecdsa-sha2-...); never a private key'
}
foreach ($address in $AllowFrom) {
    if ($address -in @('Any', '*', '0.0.0.0/0', '::/0')) {
        throw "-AllowFrom $address would open sshd to every network; give the lab admin subnet, e.g. 10.20.30.0/24"
    }
}

# 1. OpenSSH Server
$capability = Get-WindowsCapability -Online -Name 'OpenSSH.Server*' | Select-Object -First 1
if ($null -eq $capability) {
    throw 'this Windows has no OpenSSH.Server capability; install OpenSSH Server from the Microsoft MSI and re-run'
}
if ($capability.State -eq 'Installed') {
    Write-Step "OpenSSH Server already installed ($($capability.Name))"
} elseif ($Source) {
    Add-WindowsCapability -Online -Name $capability.Name -Source $Source -LimitAccess | Out-Null
    Write-Step "installed $($capability.Name) from $Source"
} else {
    Add-WindowsCapability -Online -Name $capability.Name | Out-Null
    Write-Step "installed $($capability.Name)"
}

# 2. sshd starts now and at boot
$service = Get-Service -Name 'sshd'
if ($service.StartType -ne 'Automatic') {
    Set-Service -Name 'sshd' -StartupType Automatic
    Write-Step 'sshd now starts at boot'
} else {
    Write-Step 'sshd already starts at boot'
}
if ($service.Status -ne 'Running') {
    Start-Service -Name 'sshd'
    Write-Step 'sshd started'
} else {
    Write-Step 'sshd already running'
}

# 3. Firewall: the lab subnet only
$wanted = ($AllowFrom | Sort-Object) -join ','
# Windows rewrites addresses (10.20.30.0/24 -> 10.20.30.0/255.255.255.0), so the rule's
# description records what was asked and is what a second run compares.
$described = "labtorch: TCP $Port from $wanted"
$rule = Get-NetFirewallRule -Name 'labtorch-sshd' -ErrorAction SilentlyContinue
if ($rule -and $rule.Description -eq $described) {
    Write-Step "firewall rule labtorch-sshd already allows TCP $Port from $wanted only"
} else {
    if ($rule) { Remove-NetFirewallRule -Name 'labtorch-sshd' }
    New-NetFirewallRule -Name 'labtorch-sshd' -DisplayName 'labtorch: OpenSSH Server (lab admin subnet only)' -Description $described -Direction Inbound -Protocol TCP -LocalPort $Port -RemoteAddress $AllowFrom -Action Allow -Profile Any | Out-Null
    Write-Step "firewall rule labtorch-sshd allows TCP $Port from $wanted only"
}
$open = Get-NetFirewallRule -Name 'OpenSSH-Server-In-TCP' -ErrorAction SilentlyContinue
if ($open -and $open.Enabled -eq 'True') {
    Disable-NetFirewallRule -Name 'OpenSSH-Server-In-TCP'
    Write-Step 'disabled the rule OpenSSH-Server-In-TCP (it allowed every address; Enable-NetFirewallRule restores it)'
}

# 4. The admin key, readable by Administrators and SYSTEM only
$keys = Join-Path $env:ProgramData 'ssh\administrators_authorized_keys'
$lines = @()
if (Test-Path -LiteralPath $keys) {
    $lines = @(Get-Content -LiteralPath $keys | ForEach-Object { $_.Trim() })
}
if ($lines -contains $PublicKey) {
    Write-Step "the key is already in $keys"
} else {
    $text = (@($lines | Where-Object { $_ }) + $PublicKey) -join "`r`n"
    [IO.File]::WriteAllText($keys, $text + "`r`n", [Text.UTF8Encoding]::new($false))
    Write-Step "added the key to $keys"
}
& icacls.exe $keys '/inheritance:r' '/grant' '*S-1-5-32-544:F' '/grant' '*S-1-5-18:F' | Out-Null
if ($LASTEXITCODE -ne 0) {
    throw "icacls could not set the ACL of $keys (exit code $LASTEXITCODE)"
}
Write-Step "ACL of ${keys}: Administrators and SYSTEM only"
Write-Step "done: from the admin PC run  ssh <admin user>@$env:COMPUTERNAME hostname"
