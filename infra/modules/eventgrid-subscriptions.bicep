// One Event Grid subscription per subscriber function, generated from ../eventgrid-subscriptions.json
// (the file `cosmospark dev` reads too). Deployed only once the functions exist, because Event Grid
// validates an AzureFunction endpoint when the subscription is created.

@description('Name of the existing Event Grid topic.')
param topicName string

@description('Resource id of the Function App that hosts the subscriber functions.')
param functionAppId string

@description('Resource id of the storage account that receives dead-lettered events.')
param deadLetterStorageAccountId string

@description('Blob container for dead-lettered events.')
param deadLetterContainerName string

var subscriptionSpec = loadJsonContent('../eventgrid-subscriptions.json')

resource topic 'Microsoft.EventGrid/topics@2025-02-15' existing = {
  name: topicName
}

resource subscriptions 'Microsoft.EventGrid/topics/eventSubscriptions@2025-02-15' = [
  for subscription in subscriptionSpec.subscriptions: {
    parent: topic
    name: subscription.name
    properties: {
      destination: {
        endpointType: 'AzureFunction'
        properties: {
          resourceId: '${functionAppId}/functions/${subscription.function}'
          maxEventsPerBatch: 1
          preferredBatchSizeInKilobytes: 64
        }
      }
      eventDeliverySchema: subscription.schema
      filter: {
        includedEventTypes: subscription.eventTypes
      }
      retryPolicy: {
        maxDeliveryAttempts: subscription.maxDeliveryAttempts
        eventTimeToLiveInMinutes: subscription.eventTimeToLiveMinutes
      }
      deadLetterWithResourceIdentity: {
        identity: {
          type: 'SystemAssigned'
        }
        deadLetterDestination: {
          endpointType: 'StorageBlob'
          properties: {
            resourceId: deadLetterStorageAccountId
            blobContainerName: deadLetterContainerName
          }
        }
      }
    }
  }
]

output subscriptionNames array = [for (subscription, i) in subscriptionSpec.subscriptions: subscriptions[i].name]
