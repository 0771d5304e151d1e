// The Azure side of the pipeline, in one resource group:
//   az deployment group create -g rg-capstone-dev -f infrastructure/main.bicep -p env=dev
// Names follow <type abbreviation>-<project>-<env> (infrastructure/README.md); the lake account
// name st<project><env> is what databricks.yml's storage_account variable points at.
targetScope = 'resourceGroup'

@description('Short project name used in every resource name.')
@minLength(2)
@maxLength(10)
param project string = 'capstone'

@description('Environment; matches the databricks.yml target.')
@allowed([
  'dev'
  'prod'
])
param env string = 'dev'

@description('Azure region.')
param location string = resourceGroup().location

@description('Public IP ranges (CIDR) of operators allowed through the storage and Key Vault firewalls (without private networking).')
param allowedIpRanges array = []

@description('Private networking: the lake and the Key Vault lose their public endpoints, and the workspace front end goes through private link (reach it over a VPN or ExpressRoute into the VNet). false keeps those public, behind their firewalls, for a team without a VPN (infrastructure/README.md).')
param privateNetworking bool = true

@description('Address space of the VNet and its three subnets (CIDR): the workspace host and container subnets, the private endpoints.')
param addressPrefixes object = {
  vnet: '10.20.0.0/16'
  host: '10.20.0.0/22'
  container: '10.20.4.0/22'
  endpoints: '10.20.8.0/24'
}

@description('Object id of the AzureDatabricks enterprise application in this tenant (for the Key Vault-backed secret scope).')
param databricksAppObjectId string = ''

@description('API keys to store in Key Vault, by secret name; pass them at deployment, never commit them.')
@secure()
param secretValues object = {}

var tags = {
  project: project
  env: env
  managedBy: 'bicep'
}
var suffix = take(uniqueString(resourceGroup().id), 5)
var names = {
  logAnalytics: 'log-${project}-${env}'
  storage: 'st${project}${env}'
  keyVault: 'kv-${project}-${env}-${suffix}'
  workspace: 'dbw-${project}-${env}'
  connector: 'dbac-${project}-${env}'
  vnet: 'vnet-${project}-${env}'
}

module logs 'modules/loganalytics.bicep' = {
  name: 'logs'
  params: {
    name: names.logAnalytics
    location: location
    tags: tags
  }
}

module network 'modules/network.bicep' = {
  name: 'network'
  params: {
    name: names.vnet
    location: location
    tags: tags
    addressPrefix: addressPrefixes.vnet
    hostSubnetPrefix: addressPrefixes.host
    containerSubnetPrefix: addressPrefixes.container
    privateEndpointSubnetPrefix: addressPrefixes.endpoints
    logAnalyticsWorkspaceId: logs.outputs.id
  }
}

module storage 'modules/storage.bicep' = {
  name: 'storage'
  params: {
    name: names.storage
    location: location
    tags: tags
    accessConnectorId: resourceId('Microsoft.Databricks/accessConnectors', names.connector)
    allowedIpRanges: allowedIpRanges
    logAnalyticsWorkspaceId: logs.outputs.id
    privateNetworking: privateNetworking
  }
}

module keyVault 'modules/keyvault.bicep' = {
  name: 'keyvault'
  params: {
    name: names.keyVault
    location: location
    tags: tags
    secretValues: secretValues
    databricksAppObjectId: databricksAppObjectId
    allowedIpRanges: allowedIpRanges
    logAnalyticsWorkspaceId: logs.outputs.id
    privateNetworking: privateNetworking
  }
}

module databricks 'modules/databricks.bicep' = {
  name: 'databricks'
  params: {
    workspaceName: names.workspace
    connectorName: names.connector
    location: location
    tags: tags
    storageAccountName: storage.outputs.name
    logAnalyticsWorkspaceId: logs.outputs.id
    vnetId: network.outputs.vnetId
    hostSubnetName: network.outputs.hostSubnetName
    containerSubnetName: network.outputs.containerSubnetName
    privateNetworking: privateNetworking
  }
}

// Private endpoints in the endpoints subnet, each with its DNS zone linked to the VNet: clusters reach the lake and
// the vault by their usual names, resolved to private addresses. The lake's and the vault's are there either way.
module lakeDfsEndpoint 'modules/privateendpoint.bicep' = {
  name: 'pe-lake-dfs'
  params: {
    name: 'pe-${names.storage}-dfs'
    location: location
    tags: tags
    serviceId: storage.outputs.id
    groupId: 'dfs'
    dnsZoneName: 'privatelink.dfs.${environment().suffixes.storage}'
    subnetId: network.outputs.privateEndpointSubnetId
    vnetId: network.outputs.vnetId
  }
}

module lakeBlobEndpoint 'modules/privateendpoint.bicep' = {
  name: 'pe-lake-blob'
  params: {
    name: 'pe-${names.storage}-blob'
    location: location
    tags: tags
    serviceId: storage.outputs.id
    groupId: 'blob'
    dnsZoneName: 'privatelink.blob.${environment().suffixes.storage}'
    subnetId: network.outputs.privateEndpointSubnetId
    vnetId: network.outputs.vnetId
  }
}

module vaultEndpoint 'modules/privateendpoint.bicep' = {
  name: 'pe-vault'
  params: {
    name: 'pe-${names.keyVault}'
    location: location
    tags: tags
    serviceId: keyVault.outputs.id
    groupId: 'vault'
    dnsZoneName: 'privatelink.vaultcore.azure.net' // Azure public cloud
    subnetId: network.outputs.privateEndpointSubnetId
    vnetId: network.outputs.vnetId
  }
}

// With private networking, the workspace's front end (UI and REST API; the clusters' link to the control plane
// too) and its browser sign-in, both in the zone privatelink.azuredatabricks.net, which the first one creates.
module workspaceEndpoint 'modules/privateendpoint.bicep' = if (privateNetworking) {
  name: 'pe-workspace-ui-api'
  params: {
    name: 'pe-${names.workspace}-ui-api'
    location: location
    tags: tags
    serviceId: databricks.outputs.workspaceId
    groupId: 'databricks_ui_api'
    dnsZoneName: 'privatelink.azuredatabricks.net'
    subnetId: network.outputs.privateEndpointSubnetId
    vnetId: network.outputs.vnetId
  }
}

module workspaceAuthEndpoint 'modules/privateendpoint.bicep' = if (privateNetworking) {
  name: 'pe-workspace-browser-auth'
  dependsOn: [
    workspaceEndpoint
  ]
  params: {
    name: 'pe-${names.workspace}-auth'
    location: location
    tags: tags
    serviceId: databricks.outputs.workspaceId
    groupId: 'browser_authentication'
    dnsZoneName: 'privatelink.azuredatabricks.net'
    subnetId: network.outputs.privateEndpointSubnetId
    vnetId: network.outputs.vnetId
    createZone: false
  }
}

output storageAccountName string = storage.outputs.name
output lakeEndpoint string = storage.outputs.dfsEndpoint
output keyVaultName string = keyVault.outputs.name
output keyVaultUri string = keyVault.outputs.uri
output keyVaultId string = keyVault.outputs.id
output databricksWorkspaceUrl string = databricks.outputs.workspaceUrl
output accessConnectorId string = databricks.outputs.connectorId
output vnetId string = network.outputs.vnetId
