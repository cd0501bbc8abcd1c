/**
 * The one test helpers module: tests import from here. The bench and the
 * simulator import `signing.ts`, `peers.ts` and `fixtures.ts` directly (they
 * need no tap and none of the app).
 */
export * from './app.ts'
export * from './fixtures.ts'
export * from './peers.ts'
export * from './processes.ts'
export * from './redis.ts'
export * from './redis-server.ts'
export * from './signing.ts'
export * from './wait.ts'
export * from './queues.ts'
