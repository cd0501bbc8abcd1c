import type { Static } from 'typebox'
import { batchTooLarge, invalidPayload } from '../errors.ts'
import { describeError, validator } from '../schemas.ts'
import { authSource, authSourceConfigSchema, MAX_BATCH, type Source, type SourceKind } from './source.ts'

const configSchema = authSourceConfigSchema('learning-manager', 'Adobe Learning Manager webhooks: `{accountId, events[]}`, forwarded event by event. `auth` says what proves a request (e.g. the webhook\'s basic credentials).')

type Config = Static<typeof configSchema>
interface LearningEvent { eventId: string, eventName: string, timestamp?: number | string }
interface Payload { accountId?: number | string, events: LearningEvent[] }

const validatePayload = validator<Payload>('learning-manager')

/**
 * Adobe Learning Manager webhooks: `{accountId, events[]}`, one envelope per
 * event. Learning events are not Adobe jobs: they are forwarded, never stored
 * as job statuses.
 */
export const learningManager: SourceKind<Config> = {
  kind: 'learning-manager',
  configSchema,

  create (config): Source {
    return authSource(config, {
      parse (body) {
        if (!validatePayload(body)) throw invalidPayload(`not a Learning Manager payload: ${describeError(validatePayload.errors)}`)
        if (body.events.length > MAX_BATCH) throw batchTooLarge(body.events.length, MAX_BATCH)
        return {
          kind: 'events',
          events: body.events.map(event => ({
            key: event.eventId,
            type: `com.adobe.learning-manager.${event.eventName}`,
            time: event.timestamp === undefined ? undefined : String(event.timestamp),
            data: body.accountId === undefined ? event : { accountId: body.accountId, ...event }
          }))
        }
      },
      ack: (accepted) => ({ received: accepted })
    })
  },

  outputs: () => []
}
