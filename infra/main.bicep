// CosmosPark on Azure: one resource group with the Function App (custom handler, Flex Consumption),
// its storage, Cosmos DB, Event Grid, Event Hubs, Web PubSub, Azure Maps, the Static Web App with
// the Function App as linked backend, and monitoring. Identity-based access everywhere: no keys,
// connection strings or secrets in parameters, settings or outputs.
targetScope = 'subscription'

@description('azd environment name; names the resource group and seeds every resource name.')
@minLength(1)
@maxLength(64)
param environmentName string

@description('Region of every regional resource.')
@minLength(1)
param location string

@description('Object id of the person or pipeline running azd; gets data-plane roles so `cosmospark dev` can use these resources. Empty to skip.')
param principalId string = ''

@description('Principal type of principalId.')
@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param principalType string = 'User'

@description('Cosmos DB capacity: Serverless (pay per request) or Provisioned (shared autoscale).')
@allowed([
  'Serverless'
  'Provisioned'
])
param cosmosCapacityMode string = 'Serverless'

@description('Autoscale maximum RU/s of the database when cosmosCapacityMode is Provisioned.')
@minValue(1000)
param cosmosAutoscaleMaxThroughput int = 1000

@description('Partitions of the event hub; fixes the update processor\'s maximum parallelism.')
@minValue(1)
@maxValue(32)
param eventHubPartitionCount int = 4

@description('Web PubSub SKU.')
@allowed([
  'Free_F1'
  'Standard_S1'
])
param webPubSubSku string = 'Standard_S1'

@description('Static Web Apps region (westus2, centralus, eastus2, westeurope or eastasia).')
@allowed([
  'westus2'
  'centralus'
  'eastus2'
  'westeurope'
  'eastasia'
])
param staticWebAppLocation string = 'westeurope'

@description('Create the Event Grid subscriptions. Needs the functions deployed first; the azd postdeploy hook turns it on and provisions again.')
param deployEventSubscriptions bool = false

var tags = {
  'azd-env-name': environmentName
  application: 'cosmospark'
}
var token = toLower(uniqueString(subscription().id, environmentName, location))
var subscriptionSpec = loadJsonContent('eventgrid-subscriptions.json')
var hubName = 'CosmosPark'
var eventHubName = 'cosmospark-events'
var consumerGroupName = 'update-processor'
var deploymentContainerName = 'app-package-${take(token, 8)}'
var deadLetterContainerName = 'eventgrid-deadletter'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module identity 'modules/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    location: location
    tags: tags
    name: 'id-cosmospark-${token}'
  }
}

module monitoring 'modules/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    location: location
    tags: tags
    logAnalyticsName: 'log-cosmospark-${token}'
    applicationInsightsName: 'appi-cosmospark-${token}'
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    location: location
    tags: tags
    name: take('stcosmospark${token}', 24)
    deploymentContainerName: deploymentContainerName
    deadLetterContainerName: deadLetterContainerName
  }
}

module cosmos 'modules/cosmos.bicep' = {
  name: 'cosmos'
  scope: rg
  params: {
    location: location
    tags: tags
    accountName: 'cosmos-cosmospark-${token}'
    capacityMode: cosmosCapacityMode
    autoscaleMaxThroughput: cosmosAutoscaleMaxThroughput
    dataContributorPrincipalIds: empty(principalId) ? [
      identity.outputs.principalId
    ] : [
      identity.outputs.principalId
      principalId
    ]
  }
}

module eventHubs 'modules/eventhubs.bicep' = {
  name: 'eventhubs'
  scope: rg
  params: {
    location: location
    tags: tags
    namespaceName: 'evhns-cosmospark-${token}'
    hubName: eventHubName
    partitionCount: eventHubPartitionCount
    consumerGroupName: consumerGroupName
    appPrincipalId: identity.outputs.principalId
    developerPrincipalId: principalId
    developerPrincipalType: principalType
  }
}

module eventGrid 'modules/eventgrid.bicep' = {
  name: 'eventgrid'
  scope: rg
  params: {
    location: location
    tags: tags
    topicName: 'evgt-${subscriptionSpec.topic}-${token}'
    deadLetterStorageAccountName: storage.outputs.name
    appPrincipalId: identity.outputs.principalId
    developerPrincipalId: principalId
    developerPrincipalType: principalType
  }
}

module webPubSub 'modules/webpubsub.bicep' = {
  name: 'webpubsub'
  scope: rg
  params: {
    location: location
    tags: tags
    name: 'wps-cosmospark-${token}'
    hubName: hubName
    skuName: webPubSubSku
    appPrincipalId: identity.outputs.principalId
    developerPrincipalId: principalId
    developerPrincipalType: principalType
  }
}

module maps 'modules/maps.bicep' = {
  name: 'maps'
  scope: rg
  params: {
    tags: tags
    name: 'map-cosmospark-${token}'
    appPrincipalId: identity.outputs.principalId
    developerPrincipalId: principalId
    developerPrincipalType: principalType
  }
}

// Every setting the custom handler and its bindings read (the functionapp module adds the
// Application Insights pair itself), under the names local.settings.json.example uses;
// `cosmospark check` compares both with function.json and the app's settings table. Binding
// connections use the identity-based form `<connection>__<endpoint property>` plus
// `__credential` and `__clientId`; the app reads the same endpoints.
var appSettings = {
  AzureWebJobsStorage__blobServiceUri: storage.outputs.blobEndpoint
  AzureWebJobsStorage__queueServiceUri: storage.outputs.queueEndpoint
  AzureWebJobsStorage__tableServiceUri: storage.outputs.tableEndpoint
  AzureWebJobsStorage__credential: 'managedidentity'
  AzureWebJobsStorage__clientId: identity.outputs.clientId
  AZURE_CLIENT_ID: identity.outputs.clientId
  CosmosDBConnection__accountEndpoint: cosmos.outputs.endpoint
  CosmosDBConnection__credential: 'managedidentity'
  CosmosDBConnection__clientId: identity.outputs.clientId
  CosmosDb__Database: cosmos.outputs.databaseName
  EventGridConnection__topicEndpointUri: eventGrid.outputs.endpoint
  EventGridConnection__credential: 'managedidentity'
  EventGridConnection__clientId: identity.outputs.clientId
  EventHubConnection__fullyQualifiedNamespace: eventHubs.outputs.fullyQualifiedNamespace
  EventHubConnection__credential: 'managedidentity'
  EventHubConnection__clientId: identity.outputs.clientId
  WebPubSubConnection__serviceUri: webPubSub.outputs.serviceUri
  WebPubSubConnection__credential: 'managedidentity'
  WebPubSubConnection__clientId: identity.outputs.clientId
  WebPubSub__Hub: webPubSub.outputs.hubName
  AzureMaps__ClientId: maps.outputs.clientId
}

module functionApp 'modules/functionapp.bicep' = {
  name: 'functionapp'
  scope: rg
  params: {
    location: location
    tags: tags
    planName: 'plan-cosmospark-${token}'
    name: 'func-cosmospark-${token}'
    identityId: identity.outputs.id
    identityPrincipalId: identity.outputs.principalId
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: storage.outputs.deploymentContainerName
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    appSettings: appSettings
  }
}

module staticWebApp 'modules/staticwebapp.bicep' = {
  name: 'staticwebapp'
  scope: rg
  params: {
    location: staticWebAppLocation
    tags: tags
    name: 'stapp-cosmospark-${token}'
  }
}

module staticWebAppBackend 'modules/staticwebapp-backend.bicep' = {
  name: 'staticwebapp-backend'
  scope: rg
  params: {
    staticWebAppName: staticWebApp.outputs.name
    functionAppName: functionApp.outputs.name
    functionAppLocation: functionApp.outputs.location
  }
}

module healthCheck 'modules/healthcheck.bicep' = {
  name: 'healthcheck'
  scope: rg
  params: {
    location: location
    tags: tags
    name: 'health-cosmospark-${token}'
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    siteHostName: staticWebApp.outputs.defaultHostname
  }
}

module eventSubscriptions 'modules/eventgrid-subscriptions.bicep' = if (deployEventSubscriptions) {
  name: 'eventgrid-subscriptions'
  scope: rg
  params: {
    topicName: eventGrid.outputs.topicName
    functionAppId: functionApp.outputs.id
    deadLetterStorageAccountId: storage.outputs.id
    deadLetterContainerName: storage.outputs.deadLetterContainerName
  }
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = functionApp.outputs.name
output AZURE_STATIC_WEB_APP_NAME string = staticWebApp.outputs.name
output AZURE_STATIC_WEB_APP_URL string = 'https://${staticWebApp.outputs.defaultHostname}'
output AZURE_CLIENT_ID string = identity.outputs.clientId
output COSMOS_ENDPOINT string = cosmos.outputs.endpoint
output COSMOS_DATABASE string = cosmos.outputs.databaseName
output EVENTGRID_TOPIC_ENDPOINT string = eventGrid.outputs.endpoint
output EVENTHUB_NAMESPACE string = eventHubs.outputs.fullyQualifiedNamespace
output EVENTHUB_NAME string = eventHubs.outputs.hubName
output EVENTHUB_CONSUMER_GROUP string = eventHubs.outputs.consumerGroupName
output WEBPUBSUB_SERVICE_URI string = webPubSub.outputs.serviceUri
output WEBPUBSUB_HUB string = webPubSub.outputs.hubName
output AZURE_MAPS_CLIENT_ID string = maps.outputs.clientId
output EVENTGRID_SUBSCRIPTIONS_DEPLOYED bool = deployEventSubscriptions
// The Function App's settings (endpoints, names and the identity's client id; nothing secret).
output APP_SETTINGS object = appSettings
// The settings `cosmospark dev` needs to use these resources with the developer's own Entra ID
// sign-in (no __credential/__clientId: the developer is not the app's managed identity).
output LOCAL_SETTINGS object = {
  CosmosDBConnection__accountEndpoint: cosmos.outputs.endpoint
  CosmosDb__Database: cosmos.outputs.databaseName
  EventGridConnection__topicEndpointUri: eventGrid.outputs.endpoint
  EventHubConnection__fullyQualifiedNamespace: eventHubs.outputs.fullyQualifiedNamespace
  WebPubSubConnection__serviceUri: webPubSub.outputs.serviceUri
  WebPubSub__Hub: webPubSub.outputs.hubName
  AzureMaps__ClientId: maps.outputs.clientId
}
