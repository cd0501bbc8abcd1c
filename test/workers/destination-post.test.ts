import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import t from 'tap'
import { DestinationClient } from '../../workers/destination-post.ts'
import { eventually } from '../helpers/index.ts'

async function listen (t: { teardown (fn: () => unknown): void }, server: Server): Promise<string> {
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => new Promise<void>(resolve => { server.closeAllConnections(); server.close(() => resolve()) }))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`
}

t.test('a pooled connection the server dropped is retried once on a fresh one', async t => {
  const requestsBySocket = new Map<Socket, number>()
  let answered = 0
  const server = createServer((req, res) => {
    const n = (requestsBySocket.get(req.socket) ?? 0) + 1
    requestsBySocket.set(req.socket, n)
    // The second request on a kept-alive socket finds it closed by the server.
    if (n > 1) { req.socket.destroy(); return }
    req.resume()
    req.on('end', () => { answered++; res.writeHead(204).end() })
  })
  const url = await listen(t, server)
  const client = new DestinationClient()
  t.teardown(() => client.close())
  t.same(await client.post(url, {}, '{}', 2000), { status: 204 })
  t.same(await client.post(url, {}, '{}', 2000), { status: 204 }, 'second POST succeeded on a new connection')
  t.equal(answered, 2)
  t.equal(requestsBySocket.size, 2, 'two connections were used')
})

t.test('a 2xx whose body never ends does not hold the socket past the timeout', async t => {
  let open = 0
  const server = createServer((req, res) => {
    req.resume()
    res.writeHead(200, { 'content-type': 'text/plain' })
    const tick = setInterval(() => res.write('x'), 20)
    res.on('close', () => clearInterval(tick))
  })
  server.on('connection', (socket) => { open++; socket.on('close', () => { open-- }) })
  const url = await listen(t, server)
  const client = new DestinationClient()
  t.teardown(() => client.close())
  t.same(await client.post(url, {}, '{}', 300), { status: 200 }, 'the 2xx counts at once')
  // The server never ends the body: only the client's deadline can close the connection.
  await eventually(() => open === 0, 10_000).catch(() => { throw new Error(`connection still open: ${open}`) })
  t.pass('connection closed by the client once its deadline passed')
})
