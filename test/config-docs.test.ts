import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { Ajv } from 'ajv'
import addFormatsModule from 'ajv-formats'
import t from 'tap'
import { generatedFiles } from '../scripts/gen-config-docs.ts'
import { EnvSchema } from '../schemas/env.ts'

const root = join(import.meta.dirname, '..')
const read = (path: string) => readFileSync(join(root, path), 'utf8')
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv

t.test('the committed generated files are what `npm run gen:config` writes', async t => {
  for (const [path, content] of Object.entries(generatedFiles())) {
    t.ok(read(path) === content, `${path} is up to date (run npm run gen:config)`)
  }
})

t.test('every environment variable is documented', async t => {
  const doc = read('docs/configuration.md')
  for (const [name, schema] of Object.entries(EnvSchema.properties)) {
    const description = (schema as { description?: string }).description ?? ''
    t.ok(description.length >= 20, `${name} has a description`)
    t.match(doc, `| \`${name}\` |`, `${name} is in docs/configuration.md`)
  }
})

t.test('the published config schema checks a config file on its own (as an editor would)', async t => {
  const ajv = addFormats(new Ajv({ strict: true, allowUnionTypes: true }))
  const validate = ajv.compile(JSON.parse(read('schemas/config.schema.json')))
  const good = {
    sources: [
      { name: 'lightroom', kind: 'adobe-io-events', clientId: '${ADOBE_CLIENT_ID}', journal: { url: 'https://events.adobe.io/x', imsOrgId: 'ORG@AdobeOrg' } },
      { name: 'pdf', kind: 'pdf-services', auth: { type: 'header', header: 'x-callback-token', value: '${PDF_TOKEN}' } }
    ],
    destinations: [{ name: 'orders', url: 'https://example.com/hook', secret: '${FORWARD_SECRET}' }],
    oauth: { clientId: 'c', clientSecret: 's' }
  }
  t.ok(validate(good), 'a valid file without the defaulted fields passes')
  t.notOk(validate({ sources: [{ name: 'pdf', kind: 'pdf-services' }] }), 'a pdf-services source without auth fails')
  t.notOk(validate({ sources: [{ name: 'x', kind: 'adobe-io-events', verify: 'maybe' }] }), 'a bad enum fails')
  const env = ajv.compile(JSON.parse(read('schemas/env.schema.json')))
  t.ok(env({}), 'the env schema needs no variable')
})
