// The network the workspace is injected into: one VNet with the two subnets a VNet-injected Databricks workspace
// needs (host and container, both delegated to Microsoft.Databricks/workspaces), a subnet for private endpoints, a
// network security group on each, and the NSGs' and the VNet's diagnostic logs sent to Log Analytics.

@description('VNet name, vnet-<project>-<env>.')
param name string

@description('Azure region.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Address space of the VNet (CIDR).')
param addressPrefix string = '10.20.0.0/16'

@description('Host subnet of the workspace (Databricks calls it the public subnet; with no public IPs nothing in it has one): one address per cluster node.')
param hostSubnetPrefix string = '10.20.0.0/22'

@description('Container subnet of the workspace (Databricks calls it the private subnet): one address per cluster node.')
param containerSubnetPrefix string = '10.20.4.0/22'

@description('Subnet of the private endpoints: the lake (dfs, blob), the Key Vault and, with private networking, the workspace.')
param privateEndpointSubnetPrefix string = '10.20.8.0/24'

@description('Log Analytics workspace that receives the diagnostic logs.')
param logAnalyticsWorkspaceId string

// every NSG's two log categories: the rules applied (events) and how often each one matched (rule counters)
var nsgLogs = [
  {
    category: 'NetworkSecurityGroupEvent'
    enabled: true
  }
  {
    category: 'NetworkSecurityGroupRuleCounter'
    enabled: true
  }
]
var subnetNames = {
  host: 'snet-dbw-host'
  container: 'snet-dbw-container'
  endpoints: 'snet-private-endpoints'
}

// Databricks writes the rules its clusters need into these groups itself (network intent policies); nothing here
// allows inbound traffic from the internet.
resource hostNsg 'Microsoft.Network/networkSecurityGroups@2023-11-01' = {
  name: 'nsg-${name}-dbw-host'
  location: location
  tags: tags
  properties: {
    securityRules: []
  }
}

resource containerNsg 'Microsoft.Network/networkSecurityGroups@2023-11-01' = {
  name: 'nsg-${name}-dbw-container'
  location: location
  tags: tags
  properties: {
    securityRules: []
  }
}

resource endpointsNsg 'Microsoft.Network/networkSecurityGroups@2023-11-01' = {
  name: 'nsg-${name}-endpoints'
  location: location
  tags: tags
  properties: {
    securityRules: [
      {
        name: 'deny-internet-inbound'
        properties: {
          priority: 4000
          direction: 'Inbound'
          access: 'Deny'
          protocol: '*'
          sourceAddressPrefix: 'Internet'
          sourcePortRange: '*'
          destinationAddressPrefix: '*'
          destinationPortRange: '*'
        }
      }
    ]
  }
}

resource vnet 'Microsoft.Network/virtualNetworks@2023-11-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        addressPrefix
      ]
    }
    subnets: [
      {
        name: subnetNames.host
        properties: {
          addressPrefix: hostSubnetPrefix
          networkSecurityGroup: {
            id: hostNsg.id
          }
          delegations: [
            {
              name: 'databricks'
              properties: {
                serviceName: 'Microsoft.Databricks/workspaces'
              }
            }
          ]
        }
      }
      {
        name: subnetNames.container
        properties: {
          addressPrefix: containerSubnetPrefix
          networkSecurityGroup: {
            id: containerNsg.id
          }
          delegations: [
            {
              name: 'databricks'
              properties: {
                serviceName: 'Microsoft.Databricks/workspaces'
              }
            }
          ]
        }
      }
      {
        name: subnetNames.endpoints
        properties: {
          addressPrefix: privateEndpointSubnetPrefix
          networkSecurityGroup: {
            id: endpointsNsg.id
          }
          // the subnet's NSG applies to the private endpoints in it too
          privateEndpointNetworkPolicies: 'Enabled'
        }
      }
    ]
  }
}

resource hostNsgDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: hostNsg
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: nsgLogs
  }
}

resource containerNsgDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: containerNsg
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: nsgLogs
  }
}

resource endpointsNsgDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: endpointsNsg
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: nsgLogs
  }
}

resource vnetDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  name: 'to-log-analytics'
  scope: vnet
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      {
        category: 'VMProtectionAlerts'
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

output vnetId string = vnet.id
output hostSubnetName string = subnetNames.host
output containerSubnetName string = subnetNames.container
output privateEndpointSubnetId string = resourceId('Microsoft.Network/virtualNetworks/subnets', vnet.name, subnetNames.endpoints)
