#!/bin/sh
# Event Grid validates an AzureFunction endpoint when a subscription is created, so the
# subscriptions can only be provisioned once the functions are deployed. After every deploy,
# provision once more with them switched on; switch them off again for the next first pass
# (ARM deployments are incremental, so existing subscriptions stay).
set -eu

restore() {
  azd env set DEPLOY_EVENT_SUBSCRIPTIONS false >/dev/null
}
trap restore EXIT

azd env set DEPLOY_EVENT_SUBSCRIPTIONS true >/dev/null
echo "Provisioning the Event Grid subscriptions (infra/eventgrid-subscriptions.json)"
azd provision --no-prompt
