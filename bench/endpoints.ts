/** Where the load goes: the proxy with a caller key, or the simulator directly with AiFi's token. */
export interface Endpoints {
  simulatorUrl: string
  simulatorAuthorization: string
  proxyUrl: string
  proxyAuthorization: string
}
