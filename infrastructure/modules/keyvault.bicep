// Key Vault behind the Databricks secret scope: RBAC only, purge protection on.
// The pipeline reads tmdb-read-token (or tmdb-api-key) and discogs-token through the scope named by its
// secret_scope parameter. Secret values are given at deployment time, never written in this repository.

@description('Key Vault name, kv-<project>-<env>-<suffix>: 3-24 letters, digits and dashes, globally unique.')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Secret values by name (tmdb-read-token, tmdb-api-key, discogs-token); empty values are skipped.')
@secure()
param secretValues object = {}

@description('Expiry written on every secret; rotate before it.')
param secretExpiry string = dateTimeAdd(utcNow(), 'P180D')

@description('Object id of the AzureDatabricks enterprise application in this tenant, which reads the vault for the secret scope; empty: no grant.')
param databricksAppObjectId string = ''

@description('Public IP ranges (CIDR) of the operators who set secrets; empty: none.')
param allowedIpRanges array = []

@description('Log Analytics workspace that receives the audit log.')
param logAnalyticsWorkspaceId string

@description('Disable the public endpoint: the vault is then reached only through its private endpoint (the secret scope reads it from the control plane as a trusted service).')
param privateNetworking bool

var secretsUserRoleId = '4633458b-17de-408a-b874-0445c86b69e6' // Key Vault Secrets User

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: privateNetworking ? 'Disabled' : 'Enabled'
    networkAcls: {
      defaultAction: 'Deny'
      bypass: 'AzureServices'
      ipRules: [for range in allowedIpRanges: {
        value: range
      }]
    }
  }
}

resource secrets 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = [for secret in items(secretValues): if (!empty(secret.value)) {
  parent: vault
  name: secret.key
  properties: {
    value: secret.value
    contentType: 'text/plain'
    attributes: {
      enabled: true
      exp: dateTimeToEpoch(secretExpiry)
    }
  }
}]

resource databricksReadsSecrets 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(databricksAppObjectId)) {
  name: guid(vault.id, databricksAppObjectId, secretsUserRoleId)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', secretsUserRoleId)
    principalId: databricksAppObjectId
    principalType: 'ServicePrincipal'
  }
}

resource vaultDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: vault
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      {
        categoryGroup: 'audit'
        enabled: true
      }
    ]
    metrics: [
      {
        category: 'AllMetrics'
        enabled: true
      }
    ]
  }
}

output id string = vault.id
output name string = vault.name
output uri string = vault.properties.vaultUri
