// User-assigned managed identity of the Function App. Created first so every data-plane role
// can be granted before the app starts.

@description('Azure region.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Identity name.')
param name string

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output principalId string = identity.properties.principalId
output clientId string = identity.properties.clientId
