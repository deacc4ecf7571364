// Azure Maps (Gen2) for server-side reverse geocoding and the browser map's tiles. Shared keys
// are disabled: the app calls the REST API with an Entra ID token of its identity and the
// account's client id (x-ms-client-id), and hands the browser such a token (GetToken) for tiles.

@description('Tags applied to every resource.')
param tags object

@description('Azure Maps account name.')
param name string

@description('Azure Maps account location.')
param location string = 'global'

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

var dataReaderRoleId = '423170ca-a8f6-4b0f-8487-9e4eb8f49bfa'

resource maps 'Microsoft.Maps/accounts@2023-06-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: 'G2'
  }
  kind: 'Gen2'
  properties: {
    disableLocalAuth: true
  }
}

resource appReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: maps
  name: guid(maps.id, appPrincipalId, dataReaderRoleId)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', dataReaderRoleId)
    principalId: appPrincipalId
    principalType: 'ServicePrincipal'
  }
}

resource developerReader 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(developerPrincipalId)) {
  scope: maps
  name: guid(maps.id, developerPrincipalId, dataReaderRoleId)
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', dataReaderRoleId)
    principalId: developerPrincipalId
    principalType: developerPrincipalType
  }
}

output name string = maps.name
// Not a secret: Entra ID requests name the account with it in the x-ms-client-id header.
output clientId string = maps.properties.uniqueId
