// Azure Web PubSub with the hub `CosmosPark`. Access keys are disabled: the app calls the REST API
// (send, group management, client token generation) with its identity.

@description('Azure region.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Web PubSub service name.')
param name string

@description('Hub the app and the browsers use.')
param hubName string

@description('Free_F1 for trials (no SLA, 20 connections); Standard_S1 for production.')
@allowed([
  'Free_F1'
  'Standard_S1'
])
param skuName string = 'Standard_S1'

@description('Principal id of the Function App identity.')
param appPrincipalId string

@description('Optional developer principal id (for `cosmospark dev` against Azure); empty to skip.')
param developerPrincipalId string = ''

@description('Principal type of developerPrincipalId.')
@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param developerPrincipalType string = 'User'

var serviceOwnerRoleId = '12cf5a90-567b-43ae-8102-96cf46c7d9b4'

resource webPubSub 'Microsoft.SignalRService/webPubSub@2024-03-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: skuName
    capacity: 1
  }
  properties: {
    disableLocalAuth: true
    disableAadAuth: false
    publicNetworkAccess: 'Enabled'
  }
}

resource hub 'Microsoft.SignalRService/webPubSub/hubs@2024-03-01' = {
  parent: webPubSub
  name: hubName
  properties: {
    anonymousConnectPolicy: 'deny'
    eventHandlers: []
  }
}

resource appOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: webPubSub
  name: guid(webPubSub.id, appPrincipalId, serviceOwnerRoleId)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceOwnerRoleId)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource developerOwner 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(developerPrincipalId)) {
  scope: webPubSub
  name: guid(webPubSub.id, developerPrincipalId, serviceOwnerRoleId)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', serviceOwnerRoleId)
    principalId: developerPrincipalId
    principalType: developerPrincipalType
  }
}

output name string = webPubSub.name
output serviceUri string = 'https://${webPubSub.properties.hostName}'
output hubName string = hub.name
