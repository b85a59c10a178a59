# Operation: create the folder $Path (and its parents) if it is missing.
New-Item -ItemType Directory -Force -Path $Path | Out-Null
