// The Static Web App (Standard, required for a linked backend) that serves `web/` and fronts the API.

@description('Static Web Apps region (westus2, centralus, eastus2, westeurope or eastasia).')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Static Web App name.')
param name string

resource staticSite 'Microsoft.Web/staticSites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, {
    'azd-service-name': 'web'
  })
  sku: {
    name: 'Standard'
    tier: 'Standard'
  }
  properties: {
    stagingEnvironmentPolicy: 'Enabled'
    allowConfigFileUpdates: true
    provider: 'Custom'
  }
}

output name string = staticSite.name
output id string = staticSite.id
output defaultHostname string = staticSite.properties.defaultHostname
