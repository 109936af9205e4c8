# Installs the `hydrate` command of event-hydrator on Windows (PowerShell 5.1 or 7).
#
#   irm https://github.com/OWNER/event-hydrator/releases/latest/download/install.ps1 | iex
#
# With Node.js 20.19 or later and npm: `npm install -g event-hydrator` (the command carries every
# client inside). Without them: the standalone hydrate.exe for this CPU from the release, into
# %LOCALAPPDATA%\Programs\hydrate, added to the user's PATH. Running it again installs nothing when
# that version is already there.
#
# Settings (environment variables), as in install.sh:
#   HYDRATE_VERSION     the version to install (default: the latest)
#   HYDRATE_PREFIX      npm's --prefix for the install (default: npm's global prefix)
#   HYDRATE_REGISTRY    npm's --registry (default: npm's own setting)
#   HYDRATE_STANDALONE  1: install the standalone executable even where Node.js is
#   HYDRATE_BIN_DIR     where the standalone executable goes
#   HYDRATE_RELEASES    where the release downloads are, e.g. https://github.com/OWNER/event-hydrator/releases
# All of it runs in a script block of its own: under `| iex` its settings stay out of the caller's
# session, and a failure throws (the message is shown, the window stays open) instead of `exit`.
& {
$ErrorActionPreference = 'Stop'
Set-StrictMode -Version 3

$Package = 'event-hydrator'
$NodeMin = [version]'20.19.0'
# The release workflow writes the repository's release URL here in the copy it publishes.
$DefaultReleases = '@RELEASES_URL@'

function Say([string]$Message) { [Console]::Error.WriteLine("install.ps1: $Message") }
function Fail([string]$Message) { Say "error: $Message"; throw "install.ps1: $Message" }
function Setting([string]$Name) { $v = [Environment]::GetEnvironmentVariable($Name); if ($v) { $v } else { $null } }

# The version a hydrate at $Path reports, or $null.
function VersionOf([string]$Path) {
  if (-not (Test-Path -LiteralPath $Path)) { return $null }
  try { (& $Path --version 2>$null | Select-Object -First 1) } catch { $null }
}

function Finish([string]$Dir) {
  $onPath = ($env:PATH -split ';') -contains $Dir
  if ($onPath) { Say 'run: hydrate --help' }
  else { Say "$Dir is not on this session's PATH yet: open a new terminal, or run $Dir\hydrate --help" }
}

function InstallWithNpm {
  $npmArgs = @('install', '--global', '--no-audit', '--no-fund')
  $prefix = Setting 'HYDRATE_PREFIX'
  $registry = Setting 'HYDRATE_REGISTRY'
  if ($prefix) { $npmArgs += @('--prefix', $prefix) }
  if ($registry) { $npmArgs += @('--registry', $registry) }
  $want = Setting 'HYDRATE_VERSION'
  if (-not $want) {
    $view = @('view', $Package, 'version')
    if ($registry) { $view += @('--registry', $registry) }
    $want = (& npm @view).Trim()
    if ($LASTEXITCODE -ne 0 -or -not $want) { Fail "could not ask the registry for the latest $Package" }
  }
  if (-not $prefix) { $prefix = (& npm prefix --global).Trim() }
  # On Windows npm puts the command shims in the prefix itself.
  $bin = $prefix
  $haveNow = VersionOf (Join-Path $bin 'hydrate.cmd')
  if ($haveNow -eq $want) {
    Say "hydrate $want is already installed in ${bin}: nothing to do"
  } else {
    if ($haveNow) { Say "replacing hydrate $haveNow in $bin" }
    Say "running: npm $($npmArgs -join ' ') $Package@$want"
    & npm @npmArgs "$Package@$want" | Out-Host
    if ($LASTEXITCODE -ne 0) { Fail 'npm install failed' }
    $got = VersionOf (Join-Path $bin 'hydrate.cmd')
    if ($got -ne $want) { Fail "installed, but $bin\hydrate --version says '$got', not $want" }
    Say "installed hydrate $want with npm into $bin"
  }
  Finish $bin
}

function InstallStandalone {
  $releases = Setting 'HYDRATE_RELEASES'
  if (-not $releases) { $releases = $DefaultReleases }
  if ($releases.StartsWith('@')) {
    Fail "no Node.js $NodeMin+, and no release URL to download the standalone executable from: set HYDRATE_RELEASES=https://github.com/OWNER/event-hydrator/releases (or install Node.js $NodeMin+ and run this again)"
  }
  $arch = switch ($env:PROCESSOR_ARCHITECTURE) { 'AMD64' { 'x64' } 'ARM64' { 'arm64' } default { Fail "no standalone executable for $($env:PROCESSOR_ARCHITECTURE)" } }
  $asset = "hydrate-win-$arch.exe"
  $version = Setting 'HYDRATE_VERSION'
  $url = if ($version) { "$releases/download/v$version" } else { "$releases/latest/download" }
  $dir = Setting 'HYDRATE_BIN_DIR'
  if (-not $dir) { $dir = Join-Path $env:LOCALAPPDATA 'Programs\hydrate' }
  New-Item -ItemType Directory -Force -Path $dir | Out-Null
  $tmp = Join-Path $dir ".hydrate-$PID.exe"
  try {
    Say "downloading $url/$asset"
    Invoke-WebRequest -UseBasicParsing -Uri "$url/$asset" -OutFile $tmp
    $sums = $null
    try { $sums = (Invoke-WebRequest -UseBasicParsing -Uri "$url/SHA256SUMS").Content } catch { Say 'no SHA256SUMS next to the executable: not checked' }
    if ($sums) {
      if ($sums -is [byte[]]) { $sums = [Text.Encoding]::UTF8.GetString($sums) }
      $line = ($sums -split "`n") | Where-Object { $_ -match "\s\*?$([regex]::Escape($asset))\s*$" } | Select-Object -First 1
      $expected = if ($line) { ($line -split '\s+')[0] } else { '' }
      $actual = (Get-FileHash -Algorithm SHA256 -LiteralPath $tmp).Hash.ToLower()
      if ($expected -ne $actual) { Fail "$asset does not match its SHA256SUMS entry" }
      Say "checked $asset against SHA256SUMS"
    }
    $want = (& $tmp --version | Select-Object -First 1)
    if ($LASTEXITCODE -ne 0 -or -not $want) { Fail 'the downloaded executable does not run here' }
    $target = Join-Path $dir 'hydrate.exe'
    $haveNow = VersionOf $target
    if ($haveNow -eq $want) {
      Say "hydrate $want is already installed in ${dir}: nothing to do"
    } else {
      Move-Item -Force -LiteralPath $tmp -Destination $target
      Say "installed the standalone hydrate $want into $dir"
    }
  } finally {
    if (Test-Path -LiteralPath $tmp) { Remove-Item -Force -LiteralPath $tmp }
  }
  $userPath = [Environment]::GetEnvironmentVariable('PATH', 'User')
  if (-not (($userPath -split ';') -contains $dir)) {
    [Environment]::SetEnvironmentVariable('PATH', (@($userPath, $dir) | Where-Object { $_ }) -join ';', 'User')
    Say "added $dir to your user PATH"
  }
  Finish $dir
}

$nodeOk = $false
if ((Setting 'HYDRATE_STANDALONE') -ne '1') {
  $node = Get-Command node -ErrorAction SilentlyContinue
  $npm = Get-Command npm -ErrorAction SilentlyContinue
  if ($node -and $npm) {
    $nodeVersion = [version]((& node -p 'process.versions.node').Trim())
    if ($nodeVersion -ge $NodeMin) {
      $nodeOk = $true
      Say "found Node.js $nodeVersion and npm $((& npm --version).Trim())"
    } else {
      Say "Node.js $nodeVersion is older than $($NodeMin.ToString(2)): installing the standalone executable instead"
    }
  } else {
    Say 'no Node.js with npm on PATH: installing the standalone executable'
  }
}
if ($nodeOk) { InstallWithNpm } else { InstallStandalone }
}
