# Operation: write $Text to $Path as UTF-8 without BOM (receipts), creating the folder.
New-Item -ItemType Directory -Force -Path (Split-Path -Parent $Path) | Out-Null
[IO.File]::WriteAllText($Path, $Text)
