// ADLS Gen2 account for the lake: one container per zone (raw, silver, gold, metrics).
// No shared-key access: Databricks reaches it through the access connector's managed identity (databricks.bicep).

@description('Storage account name, st<project><env>: 3-24 lowercase letters and digits, globally unique.')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Containers of the lake; the pipeline parameters raw_root, output_root, gold_root and metrics_root point into them.')
param containers array = [
  'raw'
  'silver'
  'gold'
  'metrics'
]

@description('Days deleted blobs and containers can be restored.')
@minValue(7)
@maxValue(365)
param softDeleteDays int = 14

@description('Resource id of the Databricks access connector, trusted through the firewall.')
param accessConnectorId string

@description('Public IP ranges (CIDR) of the operators who may reach the account; empty: none.')
param allowedIpRanges array = []

@description('Log Analytics workspace that receives the diagnostic logs.')
param logAnalyticsWorkspaceId string

@description('Disable the public endpoint: the lake is then reached only through its private endpoints.')
param privateNetworking bool

resource account 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: name
  location: location
  tags: tags
  kind: 'StorageV2'
  sku: {
    name: 'Standard_GRS'
  }
  properties: {
    isHnsEnabled: true
    accessTier: 'Hot'
    minimumTlsVersion: 'TLS1_2'
    supportsHttpsTrafficOnly: true
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false
    defaultToOAuthAuthentication: true
    allowCrossTenantReplication: false
    // the clusters reach the lake through its private endpoints (main.bicep); without private networking the
    // firewalled public endpoint stays for operators, the access connector and trusted Azure services
    publicNetworkAccess: privateNetworking ? 'Disabled' : 'Enabled'
    networkAcls: {
      defaultAction: 'Deny'
      bypass: 'AzureServices, Logging, Metrics'
      ipRules: [for range in allowedIpRanges: {
        value: range
        action: 'Allow'
      }]
      resourceAccessRules: [
        {
          tenantId: subscription().tenantId
          resourceId: accessConnectorId
        }
      ]
    }
    encryption: {
      keySource: 'Microsoft.Storage'
      requireInfrastructureEncryption: true
      services: {
        blob: {
          enabled: true
        }
        file: {
          enabled: true
        }
        queue: {
          enabled: true
          keyType: 'Account'
        }
        table: {
          enabled: true
          keyType: 'Account'
        }
      }
    }
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: account
  name: 'default'
  properties: {
    deleteRetentionPolicy: {
      enabled: true
      days: softDeleteDays
    }
    containerDeleteRetentionPolicy: {
      enabled: true
      days: softDeleteDays
    }
  }
}

resource lakeContainers 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = [for container in containers: {
  parent: blobService
  name: container
  properties: {
    publicAccess: 'None'
  }
}]

resource accountDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: account
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    metrics: [
      {
        category: 'Transaction'
        enabled: true
      }
    ]
  }
}

resource blobDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: blobService
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      {
        categoryGroup: 'allLogs'
        enabled: true
      }
    ]
    metrics: [
      {
        category: 'Transaction'
        enabled: true
      }
    ]
  }
}

output id string = account.id
output name string = account.name
output dfsEndpoint string = account.properties.primaryEndpoints.dfs
