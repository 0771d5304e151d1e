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

@description('Public IP ranges (CIDR) of operators allowed through the storage and Key Vault firewalls.')
param allowedIpRanges array = []

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
}

module logs 'modules/loganalytics.bicep' = {
  name: 'logs'
  params: {
    name: names.logAnalytics
    location: location
    tags: tags
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
  }
}

output storageAccountName string = storage.outputs.name
output lakeEndpoint string = storage.outputs.dfsEndpoint
output keyVaultName string = keyVault.outputs.name
output keyVaultUri string = keyVault.outputs.uri
output keyVaultId string = keyVault.outputs.id
output databricksWorkspaceUrl string = databricks.outputs.workspaceUrl
output accessConnectorId string = databricks.outputs.connectorId
