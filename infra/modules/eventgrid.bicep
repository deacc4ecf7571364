// Event Grid custom topic that relay functions publish to. Access keys are disabled: publishers
// need the EventGrid Data Sender role. The topic's own identity writes dead-lettered events to blob storage.

@description('Azure region.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Event Grid topic name.')
param topicName string

@description('Storage account that holds the dead-letter container.')
param deadLetterStorageAccountName string

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

var dataSenderRoleId = 'd5a91429-5739-47e2-a06b-3470a27159e7'
var storageBlobDataContributorRoleId = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe'

resource topic 'Microsoft.EventGrid/topics@2025-02-15' = {
  name: topicName
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {
    inputSchema: 'EventGridSchema'
    disableLocalAuth: true
    publicNetworkAccess: 'Enabled'
    minimumTlsVersionAllowed: '1.2'
  }
}

resource deadLetterStorage 'Microsoft.Storage/storageAccounts@2024-01-01' existing = {
  name: deadLetterStorageAccountName
}

resource topicDeadLetterWriter 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: deadLetterStorage
  name: guid(deadLetterStorage.id, topic.id, storageBlobDataContributorRoleId)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', storageBlobDataContributorRoleId)
    principalId: topic.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource appSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: topic
  name: guid(topic.id, appPrincipalId, dataSenderRoleId)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', dataSenderRoleId)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource developerSender 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(developerPrincipalId)) {
  scope: topic
  name: guid(topic.id, developerPrincipalId, dataSenderRoleId)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', dataSenderRoleId)
    principalId: developerPrincipalId
    principalType: developerPrincipalType
  }
}

output topicName string = topic.name
output topicId string = topic.id
output endpoint string = topic.properties.endpoint
