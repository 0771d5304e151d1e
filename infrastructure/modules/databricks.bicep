// Databricks workspace (premium: Unity Catalog, secret scope ACLs, private link, diagnostic logs), injected into the
// project's VNet, and its access connector.
// The connector's managed identity gets Storage Blob Data Contributor on the lake account; the workspace's
// clusters reach storage through it (a Unity Catalog storage credential), never with an account key.

@description('Workspace name, dbw-<project>-<env>.')
param workspaceName string

@description('Access connector name, dbac-<project>-<env>.')
param connectorName string

@description('Azure region.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Name of the lake storage account (storage.bicep) the connector may read and write.')
param storageAccountName string

@description('Log Analytics workspace that receives the workspace logs.')
param logAnalyticsWorkspaceId string

@description('VNet the clusters are injected into (network.bicep).')
param vnetId string

@description('Host subnet (Databricks: the public subnet; no node has a public IP).')
param hostSubnetName string

@description('Container subnet (Databricks: the private subnet).')
param containerSubnetName string

@description('Front end and control plane link through private endpoints only; false leaves the front end public, for a team without a VPN.')
param privateNetworking bool

var blobDataContributorRoleId = 'ba92f5b4-2d11-453d-a403-e96b0029c9fe' // Storage Blob Data Contributor
var managedResourceGroupName = 'rg-${workspaceName}-managed'

resource connector 'Microsoft.Databricks/accessConnectors@2024-05-01' = {
  name: connectorName
  location: location
  tags: tags
  identity: {
    type: 'SystemAssigned'
  }
  properties: {}
}

resource workspace 'Microsoft.Databricks/workspaces@2024-05-01' = {
  // checkov:skip=CKV2_AZURE_48: the pipeline keeps no data in the DBFS root; every table lives in the ADLS account, encrypted at rest with infrastructure encryption on top.
  name: workspaceName
  location: location
  tags: tags
  sku: {
    name: 'premium'
  }
  properties: {
    managedResourceGroupId: subscriptionResourceId('Microsoft.Resources/resourceGroups', managedResourceGroupName)
    // with private networking: the front end (UI and REST API) and the clusters' link to the control plane go
    // through private endpoints (main.bicep), and Databricks needs no NSG rules of its own
    publicNetworkAccess: privateNetworking ? 'Disabled' : 'Enabled'
    requiredNsgRules: privateNetworking ? 'NoAzureDatabricksRules' : 'AllRules'
    parameters: {
      enableNoPublicIp: {
        value: true
      }
      customVirtualNetworkId: {
        value: vnetId
      }
      customPublicSubnetName: {
        value: hostSubnetName
      }
      customPrivateSubnetName: {
        value: containerSubnetName
      }
    }
  }
}

resource lake 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource connectorWritesLake 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  name: guid(lake.id, connector.id, blobDataContributorRoleId)
  scope: lake
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', blobDataContributorRoleId)
    principalId: connector.identity.principalId
    principalType: 'ServicePrincipal'
  }
}

resource workspaceDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: workspace
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [for category in [
      'accounts'
      'clusters'
      'dbfs'
      'jobs'
      'notebook'
      'secrets'
      'unityCatalog'
      'workspace'
    ]: {
      category: category
      enabled: true
    }]
  }
}

output workspaceId string = workspace.id
output workspaceUrl string = workspace.properties.workspaceUrl
output connectorId string = connector.id
output connectorPrincipalId string = connector.identity.principalId
