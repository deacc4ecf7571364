# Windows counterpart of enable-event-subscriptions.sh: provisions again with the Event Grid
# subscriptions switched on, now that the subscriber functions exist.
$ErrorActionPreference = 'Stop'
$PSNativeCommandUseErrorActionPreference = $true

try {
    azd env set DEPLOY_EVENT_SUBSCRIPTIONS true | Out-Null
    Write-Host 'Provisioning the Event Grid subscriptions (infra/eventgrid-subscriptions.json)'
    azd provision --no-prompt
}
finally {
    azd env set DEPLOY_EVENT_SUBSCRIPTIONS false | Out-Null
}
