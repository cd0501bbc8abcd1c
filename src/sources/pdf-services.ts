import type { Static } from 'typebox'
import { invalidPayload } from '../errors.ts'
import { normalizeStatus, str } from '../ingest/envelope.ts'
import { describeError, validator } from '../schemas.ts'
import { authSource, authSourceConfigSchema, dig, type Source, type SourceKind } from './source.ts'

const configSchema = authSourceConfigSchema('pdf-services', 'PDF Services CALLBACK notifier: one job per request. PDF Services signs nothing, so `auth` says what the callback must carry (the header or basic credentials set in the job\'s callback).')

type Config = Static<typeof configSchema>
interface Callback { jobID: string, statusResponse: { status: string, error?: { code?: string } } }

const validateCallback = validator<Callback>('pdf-services')
// Adobe blocks a client after 50 answers that are not exactly this in 10 minutes.
const ACK = Object.freeze({ ack: 'done' })

/** PDF Services CALLBACK notifier: one job per request, no event id of its own. */
export const pdfServices: SourceKind<Config> = {
  kind: 'pdf-services',
  configSchema,

  create (config): Source {
    return authSource(config, {
      parse (body) {
        if (!validateCallback(body)) throw invalidPayload(`not a PDF Services callback: ${describeError(validateCallback.errors)}`)
        const status = normalizeStatus(body.statusResponse.status)
        return {
          kind: 'events',
          events: [{
            // A job announces each status once; jobID + status identifies the notification.
            key: `${body.jobID}/${status ?? body.statusResponse.status}`,
            type: 'com.adobe.pdf-services.job-status',
            jobId: body.jobID,
            status,
            error: str(body.statusResponse.error?.code, 256),
            data: body
          }]
        }
      },
      ack: () => ACK
    })
  },

  outputs (envelope) {
    if (envelope.jobstatus !== 'succeeded') return []
    const uri = str(dig(envelope.data, 'statusResponse', 'asset', 'downloadUri'), 16384)
    return uri !== undefined ? [{ url: uri, name: 'output.pdf' }] : []
  }
}
