import Fastify from 'fastify'
import { serveForBench } from './child.ts'

// The ceiling: Fastify's defaults (JSON body parsed, no logger), a POST route
// that does nothing and answers 200.
const app = Fastify()
app.post('/webhooks/:source', async () => ({ received: 1 }))
await serveForBench(app)
