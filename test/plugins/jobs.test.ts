import t from 'tap'
import { JobStatusStore } from '../../src/job-status.ts'
import { buildTestApp, edgeRedis, testConfig, testRedis, uniquePrefix } from '../helpers/index.ts'

const SOURCES = [{ name: 'pdf', kind: 'pdf-services' as const, auth: { type: 'none' as const } }]

t.test('GET /jobs/:jobId answers the stored document, 404 when unknown', async t => {
  const prefix = uniquePrefix()
  const redis = testRedis(t, prefix)
  const store = new JobStatusStore(redis, prefix)
  await store.record('job 1/ä', { status: 'succeeded', eventId: 'pdf/job 1/ä/succeeded', source: 'pdf', time: '2026-01-01T00:00:00.000Z' })
  await store.recordOutput('job 1/ä', { url: 'https://s3.example/out.pdf', file: '/data/x/output.pdf', bytes: 42, at: '2026-01-01T00:00:01.000Z' })
  const config = testConfig({ sources: SOURCES }, { QUEUE_PREFIX: prefix })
  const app = await buildTestApp(t, config, { redis: await edgeRedis(t, config) })

  const res = await app.inject({ method: 'GET', url: `/jobs/${encodeURIComponent('job 1/ä')}` })
  t.equal(res.statusCode, 200)
  t.match(res.headers['content-type'], /application\/json/)
  t.same(res.json(), {
    jobId: 'job 1/ä',
    status: 'succeeded',
    source: 'pdf',
    updatedAt: res.json().updatedAt,
    outputs: [{ url: 'https://s3.example/out.pdf', file: '/data/x/output.pdf', bytes: 42, at: '2026-01-01T00:00:01.000Z' }],
    history: [{ status: 'succeeded', eventId: 'pdf/job 1/ä/succeeded', source: 'pdf', time: '2026-01-01T00:00:00.000Z' }]
  })

  const missing = await app.inject({ method: 'GET', url: '/jobs/unknown' })
  t.equal(missing.statusCode, 404)
  t.same(missing.json().error.code, 'AEG_JOB_NOT_FOUND')
})

t.test('GET /jobs/:jobId is 503, not 404 or 500, when Redis does not answer', async t => {
  const app = await buildTestApp(t, testConfig({ sources: SOURCES }, { REDIS_URL: 'redis://127.0.0.1:1' }))
  const res = await app.inject({ method: 'GET', url: '/jobs/any' })
  t.equal(res.statusCode, 503)
  t.equal(res.json().error.code, 'AEG_STORE_UNAVAILABLE')
  t.equal(res.headers['retry-after'], '5')
})
