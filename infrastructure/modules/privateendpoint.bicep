// One private endpoint for one sub-resource of a service (the lake's dfs or blob, the Key Vault, the workspace's
// front end), with its private DNS zone, the zone's link to the VNet and the endpoint's DNS zone group, so that
// inside the VNet the service's usual host name resolves to the endpoint's private address.

@description('Private endpoint name, pe-<service>-<sub-resource>.')
param name string

@description('Azure region.')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Resource id of the service the endpoint reaches.')
param serviceId string

@description('The sub-resource (group id) of the service: dfs, blob, vault, databricks_ui_api, browser_authentication.')
param groupId string

@description('Private DNS zone of that sub-resource, e.g. privatelink.dfs.core.windows.net.')
param dnsZoneName string

@description('Subnet the endpoint takes its address from.')
param subnetId string

@description('VNet linked to the DNS zone: the one the clusters run in.')
param vnetId string

@description('Create the DNS zone and its VNet link; false when another endpoint of this deployment (the same zone) made them.')
param createZone bool = true

resource endpoint 'Microsoft.Network/privateEndpoints@2023-11-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    subnet: {
      id: subnetId
    }
    privateLinkServiceConnections: [
      {
        name: name
        properties: {
          privateLinkServiceId: serviceId
          groupIds: [
            groupId
          ]
        }
      }
    ]
  }
}

resource zone 'Microsoft.Network/privateDnsZones@2020-06-01' = if (createZone) {
  name: dnsZoneName
  location: 'global'
  tags: tags
}

resource zoneLink 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2020-06-01' = if (createZone) {
  parent: zone
  name: '${name}-link'
  location: 'global'
  tags: tags
  properties: {
    virtualNetwork: {
      id: vnetId
    }
    registrationEnabled: false
  }
}

resource zoneGroup 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2023-11-01' = {
  parent: endpoint
  dependsOn: [
    zone
  ]
  name: 'default'
  properties: {
    privateDnsZoneConfigs: [
      {
        name: replace(dnsZoneName, '.', '-')
        properties: {
          privateDnsZoneId: resourceId('Microsoft.Network/privateDnsZones', dnsZoneName)
        }
      }
    ]
  }
}

output id string = endpoint.id
output dnsZoneId string = resourceId('Microsoft.Network/privateDnsZones', dnsZoneName)
