/** Host allow-list: `host`, `host:port`, or `*.domain` (any subdomain of domain). */
export interface UrlPolicy {
  allowHosts: readonly string[]
  allowHttp: boolean
}

/**
 * The parsed URL when its scheme and host are allowed by the policy, else a
 * reason. Used for every URL the gateway fetches on someone else's say-so.
 */
export function checkUrl (raw: string, policy: UrlPolicy): { ok: true, url: URL } | { ok: false, reason: string } {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    return { ok: false, reason: 'not a valid URL' }
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && policy.allowHttp)) {
    return { ok: false, reason: `scheme ${url.protocol} is not allowed` }
  }
  if (url.username !== '' || url.password !== '') return { ok: false, reason: 'credentials in URL are not allowed' }
  const host = url.hostname.toLowerCase().replace(/\.$/, '')
  // `https://.adobe.io` parses, and ends with `.adobe.io`: a host with an empty label is no subdomain of anything.
  if (host.split('.').includes('')) return { ok: false, reason: `host ${url.host} is not a valid host name` }
  const port = url.port
  const allowed = policy.allowHosts.some(pattern => hostMatches(pattern.toLowerCase(), host, port))
  return allowed ? { ok: true, url } : { ok: false, reason: `host ${url.host} is not in the allow-list` }
}

function hostMatches (pattern: string, host: string, port: string): boolean {
  const colon = pattern.lastIndexOf(':')
  const hasPort = colon !== -1 && /^\d+$/.test(pattern.slice(colon + 1))
  const patternHost = hasPort ? pattern.slice(0, colon) : pattern
  if (hasPort && pattern.slice(colon + 1) !== port) return false
  if (patternHost.startsWith('*.')) {
    const domain = patternHost.slice(2)
    return host.endsWith(`.${domain}`)
  }
  return host === patternHost
}
