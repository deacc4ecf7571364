// Links the Function App as the Static Web App's API backend and pins the Function App's
// authentication so it answers only requests that come through the Static Web App. Direct calls
// get 401, and App Service authentication drops any client-sent x-ms-client-principal header.

@description('Name of the existing Static Web App.')
param staticWebAppName string

@description('Name of the existing Function App.')
param functionAppName string

@description('Region of the Function App.')
param functionAppLocation string

resource staticSite 'Microsoft.Web/staticSites@2024-04-01' existing = {
  name: staticWebAppName
}

resource functionApp 'Microsoft.Web/sites@2024-04-01' existing = {
  name: functionAppName
}

resource linkedBackend 'Microsoft.Web/staticSites/linkedBackends@2024-04-01' = {
  parent: staticSite
  name: 'backend'
  properties: {
    backendResourceId: functionApp.id
    region: functionAppLocation
  }
}

// The same settings the link applies, declared so a re-provision keeps them exactly.
resource authSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: functionApp
  name: 'authsettingsV2'
  properties: {
    platform: {
      enabled: true
    }
    globalValidation: {
      requireAuthentication: true
      unauthenticatedClientAction: 'Return401'
      // Event Grid delivers through the host's webhook, guarded by the Event Grid system key.
      excludedPaths: [
        '/runtime/webhooks/eventgrid'
        '/runtime/webhooks/EventGrid'
      ]
    }
    httpSettings: {
      requireHttps: true
      forwardProxy: {
        convention: 'NoProxy'
      }
    }
    identityProviders: {
      azureStaticWebApps: {
        enabled: true
        registration: {
          clientId: staticSite.properties.defaultHostname
        }
      }
    }
  }
  dependsOn: [
    linkedBackend
  ]
}

output backendName string = linkedBackend.name
