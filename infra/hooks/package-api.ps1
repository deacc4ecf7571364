# Windows counterpart of package-api.sh: builds the static Linux x64 (musl) binary and stages the
# Functions package where azure.yaml's `dist` points. Cross-linking for musl needs rust-lld.
$ErrorActionPreference = 'Stop'
$PSNativeCommandUseErrorActionPreference = $true

$target = 'x86_64-unknown-linux-musl'
$out = if ($env:COSMOSPARK_PACKAGE_DIR) { $env:COSMOSPARK_PACKAGE_DIR } else { 'target/azd/api' }

if (Get-Command rustup -ErrorAction SilentlyContinue) {
    rustup target add $target | Out-Null
}
$env:CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_LINKER = 'rust-lld'

Write-Host "Building cosmospark for $target"
cargo build --release --locked --target $target

Write-Host 'Validating function.json files against the handlers'
cargo run --locked --quiet -- check

Write-Host "Staging the package in $out"
if (Test-Path $out) { Remove-Item -Recurse -Force $out }
cargo run --locked --quiet -- package --dir $out
