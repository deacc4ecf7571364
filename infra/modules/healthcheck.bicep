// The app's health check: a standard availability test that GETs /api/health through the Static
// Web App (the route is anonymous in web/staticwebapp.config.json) every five minutes from three
// regions; anything but 200 within 30 s counts as a failure in Application Insights.
// The App Service platform health check (siteConfig.healthCheckPath) is not available on the
// Flex Consumption plan, so the check runs from Application Insights instead.

@description('Azure region (the Application Insights component\'s).')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Availability test name.')
param name string

@description('The Application Insights component the results go to.')
param applicationInsightsName string

@description('The Static Web App host name the test calls.')
param siteHostName string

@description('Path of the health endpoint.')
param healthPath string = '/api/health'

resource applicationInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

resource healthTest 'Microsoft.Insights/webtests@2022-06-15' = {
  name: name
  location: location
  tags: union(tags, {
    'hidden-link:${applicationInsights.id}': 'Resource'
  })
  kind: 'standard'
  properties: {
    SyntheticMonitorId: name
    Name: name
    Description: 'GET ${healthPath}: 200 when the store answers and no change-feed trigger is behind'
    Enabled: true
    Frequency: 300
    Timeout: 30
    Kind: 'standard'
    RetryEnabled: true
    Locations: [
      {
        Id: 'us-va-ash-azr'
      }
      {
        Id: 'emea-nl-ams-azr'
      }
      {
        Id: 'apac-sg-sin-azr'
      }
    ]
    Request: {
      RequestUrl: 'https://${siteHostName}${healthPath}'
      HttpVerb: 'GET'
      ParseDependentRequests: false
    }
    ValidationRules: {
      ExpectedHttpStatusCode: 200
      SSLCheck: true
      SSLCertRemainingLifetimeCheck: 7
    }
  }
}

output id string = healthTest.id
